<#
.SYNOPSIS
  Snapshots the volatile context of an alerted process and file into a zip. Never fails on
  what it inspects: a missing process or file is recorded, not fatal.

.DESCRIPTION
  Used by playbooks/alert-response.yaml, started by an alert webhook. Alert values are
  untrusted, so they arrive base64-encoded (UTF-8). Records, into -OutFile:
    process.txt     every process with the alerted image name: pid, parent chain, command
                    line, owner, start time, loaded modules
    network.csv     TCP connections owned by those processes
    file.txt        the alerted file's size, timestamps, SHA-256 and signature
    processes.csv   the full process list with command lines, for context
  Exits non-zero only when the zip cannot be written, so the GetFile steps after it still run
  whenever there is something to fetch.

.EXAMPLE
  alert-snapshot.ps1 -ProcessBase64 aW52b2ljZS5leGU= -FileBase64 QzpcVXNlcnNc... -OutFile C:\windows\TEMP\a.zip
#>
param(
    [Parameter(Mandatory = $true)][string]$ProcessBase64,
    [Parameter(Mandatory = $true)][string]$FileBase64,
    [Parameter(Mandatory = $true)][string]$OutFile
)

$ErrorActionPreference = 'Continue'
function Decode([string]$b64) { [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($b64)) }
$processName = Decode $ProcessBase64
$filePath = Decode $FileBase64
$stage = Join-Path $env:windir ("TEMP\fleetlr-alert-" + [guid]::NewGuid().ToString('N'))
New-Item -ItemType Directory -Path $stage | Out-Null

$all = @(Get-CimInstance Win32_Process)
$byPid = @{}; foreach ($p in $all) { $byPid[[int]$p.ProcessId] = $p }
$alerted = @($all | Where-Object { $_.Name -ieq $processName })

$report = foreach ($p in $alerted) {
    "== $($p.Name) pid $($p.ProcessId) started $($p.CreationDate)"
    "command line: $($p.CommandLine)"
    $owner = Invoke-CimMethod -InputObject $p -MethodName GetOwner -ErrorAction SilentlyContinue
    if ($owner) { "owner: $($owner.Domain)\$($owner.User)" }
    $chain = @(); $cur = $p; $seen = @{}
    while ($cur -and -not $seen.ContainsKey([int]$cur.ParentProcessId)) {
        $seen[[int]$cur.ParentProcessId] = $true
        $cur = $byPid[[int]$cur.ParentProcessId]
        if ($cur) { $chain += "$($cur.Name)($($cur.ProcessId)) $($cur.CommandLine)" }
    }
    "parents:"; $chain | ForEach-Object { "  $_" }
    "modules:"
    try { (Get-Process -Id $p.ProcessId).Modules | ForEach-Object { "  $($_.FileName)" } } catch { "  unavailable: $($_.Exception.Message)" }
}
if (-not $report) { $report = "no running process named $processName" }
$report | Out-File (Join-Path $stage 'process.txt') -Encoding utf8 -Width 4096

$pids = @($alerted | ForEach-Object { [int]$_.ProcessId })
Get-NetTCPConnection -ErrorAction SilentlyContinue | Where-Object { $pids -contains $_.OwningProcess } |
    Select-Object LocalAddress, LocalPort, RemoteAddress, RemotePort, State, OwningProcess, CreationTime |
    Export-Csv -NoTypeInformation -Encoding UTF8 (Join-Path $stage 'network.csv')

$fileFacts = if (Test-Path -LiteralPath $filePath -PathType Leaf) {
    $item = Get-Item -LiteralPath $filePath -Force
    "path: $($item.FullName)"; "length: $($item.Length)"
    "created: $($item.CreationTimeUtc.ToString('o'))"; "modified: $($item.LastWriteTimeUtc.ToString('o'))"
    "sha256: $((Get-FileHash -LiteralPath $filePath -Algorithm SHA256).Hash.ToLowerInvariant())"
    "signature: $((Get-AuthenticodeSignature -LiteralPath $filePath).Status)"
} else { "no file at $filePath (deleted or quarantined?)" }
$fileFacts | Out-File (Join-Path $stage 'file.txt') -Encoding utf8

$all | Select-Object ProcessId, ParentProcessId, Name, ExecutablePath, CommandLine, CreationDate |
    Export-Csv -NoTypeInformation -Encoding UTF8 (Join-Path $stage 'processes.csv')

try {
    if (Test-Path -LiteralPath $OutFile) { Remove-Item -LiteralPath $OutFile -Force }
    Add-Type -AssemblyName System.IO.Compression.FileSystem
    [System.IO.Compression.ZipFile]::CreateFromDirectory($stage, $OutFile)
    Write-Output "snapshot $OutFile for process $processName and file $filePath"
} catch {
    Write-Output "cannot write ${OutFile}: $($_.Exception.Message)"
    exit 1
} finally {
    Remove-Item -Recurse -Force $stage -ErrorAction SilentlyContinue
}
