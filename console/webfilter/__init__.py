"""Web-filter logs: traffic seen by the school's proxy, mapped from client IP to device, then scanned."""
