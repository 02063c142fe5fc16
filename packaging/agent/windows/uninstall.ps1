# Removes the Safeguard agent. Run as Administrator.
$ErrorActionPreference = "Stop"
Unregister-ScheduledTask -TaskName "Safeguard Agent" -Confirm:$false
foreach ($name in "CONSOLE_HOST", "CA_FILE", "ENROLMENT_TOKEN") {
  [Environment]::SetEnvironmentVariable("SAFEGUARD_AGENT_$name", $null, "Machine")
}
Remove-Item -Recurse -Force "$env:ProgramFiles\Safeguard"
