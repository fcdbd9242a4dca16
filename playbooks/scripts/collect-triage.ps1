<#
.SYNOPSIS
  fleetlr triage collection for Windows: gathers volatile and persistent state into one zip.

.DESCRIPTION
  Used by playbooks/fleet-triage-windows.yaml. Writes to a staging folder under
  C:\windows\TEMP, zips it to -OutFile and removes the staging folder. Every collector is
  independent: one that fails is recorded in errors.txt and the rest still run, so a partial
  bundle is still a bundle. Exits non-zero only when the zip itself cannot be written, which
  makes the GetFile step that follows fail cleanly instead of fetching nothing.

  Collected: system facts, processes with command lines and owners, TCP/UDP endpoints with
  owning processes, services, scheduled tasks, Run/RunOnce keys, local administrators, DNS
  cache, and the last -EventDays days of the Security, System and PowerShell Operational logs
  as .evtx files.

.EXAMPLE
  collect-triage.ps1 -OutFile C:\windows\TEMP\fleetlr-triage-42.zip -EventDays 3
#>
param(
    [Parameter(Mandatory = $true)][string]$OutFile,
    [int]$EventDays = 3
)

$ErrorActionPreference = 'Stop'
$stage = Join-Path $env:windir ("TEMP\fleetlr-triage-" + [guid]::NewGuid().ToString('N'))
New-Item -ItemType Directory -Path $stage | Out-Null
$errors = New-Object System.Collections.Generic.List[string]

function Collect([string]$Name, [scriptblock]$Block) {
    try {
        & $Block | Out-File -FilePath (Join-Path $stage $Name) -Encoding utf8 -Width 4096
    } catch {
        $errors.Add("${Name}: $($_.Exception.Message)")
    }
}

Collect 'system.txt'      { Get-CimInstance Win32_OperatingSystem | Format-List *; Get-CimInstance Win32_ComputerSystem | Format-List * }
Collect 'processes.csv'   { Get-CimInstance Win32_Process | ForEach-Object {
        $owner = Invoke-CimMethod -InputObject $_ -MethodName GetOwner -ErrorAction SilentlyContinue
        [pscustomobject]@{ Pid = $_.ProcessId; ParentPid = $_.ParentProcessId; Name = $_.Name
            Path = $_.ExecutablePath; CommandLine = $_.CommandLine; Created = $_.CreationDate
            Owner = if ($owner) { "$($owner.Domain)\$($owner.User)" } else { '' } }
    } | ConvertTo-Csv -NoTypeInformation }
Collect 'tcp.csv'         { Get-NetTCPConnection | Select-Object LocalAddress, LocalPort, RemoteAddress, RemotePort, State, OwningProcess, CreationTime | ConvertTo-Csv -NoTypeInformation }
Collect 'udp.csv'         { Get-NetUDPEndpoint | Select-Object LocalAddress, LocalPort, OwningProcess, CreationTime | ConvertTo-Csv -NoTypeInformation }
Collect 'services.csv'    { Get-CimInstance Win32_Service | Select-Object Name, DisplayName, State, StartMode, StartName, PathName | ConvertTo-Csv -NoTypeInformation }
Collect 'tasks.csv'       { Get-ScheduledTask | ForEach-Object {
        [pscustomobject]@{ Path = $_.TaskPath + $_.TaskName; State = $_.State; Author = $_.Author
            Actions = ($_.Actions | ForEach-Object { "$($_.Execute) $($_.Arguments)" }) -join ' | ' }
    } | ConvertTo-Csv -NoTypeInformation }
Collect 'autoruns.txt'    { foreach ($key in 'HKLM:\Software\Microsoft\Windows\CurrentVersion\Run',
                                              'HKLM:\Software\Microsoft\Windows\CurrentVersion\RunOnce',
                                              'HKLM:\Software\WOW6432Node\Microsoft\Windows\CurrentVersion\Run') {
        "[$key]"; Get-ItemProperty -Path $key -ErrorAction SilentlyContinue | Format-List * } }
Collect 'admins.txt'      { Get-LocalGroupMember -SID 'S-1-5-32-544' | Format-Table -AutoSize Name, ObjectClass, PrincipalSource }
Collect 'dns-cache.csv'   { Get-DnsClientCache | Select-Object Entry, Data, TimeToLive | ConvertTo-Csv -NoTypeInformation }

# Event logs as .evtx so they open in Event Viewer and parse with the usual tools.
$ms = [int64]$EventDays * 86400000
foreach ($log in 'Security', 'System', 'Microsoft-Windows-PowerShell/Operational') {
    $file = Join-Path $stage (($log -replace '[/\\]', '-') + '.evtx')
    & wevtutil.exe epl $log $file "/q:*[System[TimeCreated[timediff(@SystemTime) <= $ms]]]" 2>&1 | Out-Null
    if ($LASTEXITCODE -ne 0) { $errors.Add("${log}: wevtutil exit code $LASTEXITCODE") }
}

$errors | Out-File -FilePath (Join-Path $stage 'errors.txt') -Encoding utf8
try {
    if (Test-Path $OutFile) { Remove-Item $OutFile -Force }
    Add-Type -AssemblyName System.IO.Compression.FileSystem
    [System.IO.Compression.ZipFile]::CreateFromDirectory($stage, $OutFile)
} catch {
    Write-Output "cannot write ${OutFile}: $($_.Exception.Message)"
    exit 1
} finally {
    Remove-Item -Recurse -Force $stage -ErrorAction SilentlyContinue
}
Write-Output "triage bundle $OutFile ($((Get-Item $OutFile).Length) bytes, $($errors.Count) collector errors)"
