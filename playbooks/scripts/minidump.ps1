<#
.SYNOPSIS
  Writes a full-memory dump of every process with a given name and zips the dumps.

.DESCRIPTION
  The Live Response API documentation's example script, written out. Used by
  playbooks/process-memory-dump.yaml:

    minidump.ps1 OfficeClickToRun   ->   C:\windows\TEMP\OfficeClickToRun.dmp.zip

  The name is as Get-Process expects it, without ".exe". Each matching process is dumped with
  MiniDumpWriteDump (MiniDumpWithFullMemory) as <name>_<pid>.dmp; all dumps go into one zip
  whose path does not depend on the pids, so the GetFile step can name it in advance. Exits
  non-zero when no process matches or no dump could be written, so that GetFile is not
  executed for nothing.
#>
param([Parameter(Mandatory = $true, Position = 0)][string]$ProcessName)

$ErrorActionPreference = 'Stop'
$temp = Join-Path $env:windir 'TEMP'
$zip = Join-Path $temp "$ProcessName.dmp.zip"
$stage = Join-Path $temp ("fleetlr-dump-" + [guid]::NewGuid().ToString('N'))

Add-Type -TypeDefinition @'
using System;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
public static class FleetlrDump {
    [DllImport("dbghelp.dll", SetLastError = true)]
    public static extern bool MiniDumpWriteDump(IntPtr process, uint pid, SafeFileHandle file,
        uint type, IntPtr exception, IntPtr user, IntPtr callback);
}
'@

$processes = @(Get-Process -Name $ProcessName -ErrorAction SilentlyContinue)
if ($processes.Count -eq 0) {
    Write-Output "no process named $ProcessName"
    exit 2
}
New-Item -ItemType Directory -Path $stage | Out-Null
$written = 0
foreach ($p in $processes) {
    $path = Join-Path $stage ("{0}_{1}.dmp" -f $ProcessName, $p.Id)
    $file = [System.IO.File]::Create($path)
    try {
        # 2 = MiniDumpWithFullMemory
        if ([FleetlrDump]::MiniDumpWriteDump($p.Handle, [uint32]$p.Id, $file.SafeFileHandle, 2,
                [IntPtr]::Zero, [IntPtr]::Zero, [IntPtr]::Zero)) {
            $written++
            Write-Output "dumped $($p.Name) pid $($p.Id)"
        } else {
            Write-Output "dump of pid $($p.Id) failed: error $([Runtime.InteropServices.Marshal]::GetLastWin32Error())"
        }
    } catch {
        Write-Output "dump of pid $($p.Id) failed: $($_.Exception.Message)"
    } finally {
        $file.Dispose()
    }
}
try {
    if ($written -eq 0) { exit 3 }
    if (Test-Path $zip) { Remove-Item $zip -Force }
    Add-Type -AssemblyName System.IO.Compression.FileSystem
    [System.IO.Compression.ZipFile]::CreateFromDirectory($stage, $zip)
    Write-Output "wrote $zip ($((Get-Item $zip).Length) bytes, $written dumps)"
} finally {
    Remove-Item -Recurse -Force $stage -ErrorAction SilentlyContinue
}
