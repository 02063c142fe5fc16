# Installs the Safeguard agent on a Windows device. Run as Administrator:
#   powershell -ExecutionPolicy Bypass -File install.ps1 -ConsoleHost console.county.example -Token sgt_...
# Capture must run inside each pupil's session (a Windows service lives in session 0 and cannot see the
# keyboard or windows), so the agent is registered as a scheduled task that starts at every logon, runs
# under the watchdog, and is restarted by Task Scheduler if it stops.
param(
  [Parameter(Mandatory = $true)][string]$ConsoleHost,
  [Parameter(Mandatory = $true)][string]$Token,
  [string]$Source = $PSScriptRoot
)
$ErrorActionPreference = "Stop"
$Target = "$env:ProgramFiles\Safeguard"
New-Item -ItemType Directory -Force -Path $Target | Out-Null
Copy-Item "$Source\safeguard-agent.exe", "$Source\ca.pem" -Destination $Target -Force

# Machine-wide settings, readable by every user, writable by administrators only.
[Environment]::SetEnvironmentVariable("SAFEGUARD_AGENT_CONSOLE_HOST", $ConsoleHost, "Machine")
[Environment]::SetEnvironmentVariable("SAFEGUARD_AGENT_CA_FILE", "$Target\ca.pem", "Machine")
[Environment]::SetEnvironmentVariable("SAFEGUARD_AGENT_ENROLMENT_TOKEN", $Token, "Machine")

$action = New-ScheduledTaskAction -Execute "$Target\safeguard-agent.exe" -Argument "watchdog"
$trigger = New-ScheduledTaskTrigger -AtLogOn
$principal = New-ScheduledTaskPrincipal -GroupId "S-1-5-32-545" -RunLevel Limited   # BUILTIN\Users
$settings = New-ScheduledTaskSettingsSet -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries `
  -ExecutionTimeLimit ([TimeSpan]::Zero) -RestartCount 999 -RestartInterval (New-TimeSpan -Minutes 1) `
  -MultipleInstances IgnoreNew
Register-ScheduledTask -TaskName "Safeguard Agent" -Action $action -Trigger $trigger -Principal $principal `
  -Settings $settings -Force | Out-Null
Write-Host "Safeguard agent installed; it starts at the next logon (or: Start-ScheduledTask 'Safeguard Agent')."
