<#
.SYNOPSIS
  Runs a tool that an earlier PutFile step placed on the device, and checks its output.

.DESCRIPTION
  Used by playbooks/persistence-inventory.yaml. PutFile saves library files in the Live
  Response working folder; this script finds the tool there (or beside itself), runs it with
  -OutFile, and fails when the tool fails or writes nothing, so a GetFile step after it is not
  executed for nothing. The tool is removed afterwards: PutFile copies are otherwise kept until
  the device restarts.

  Tools ending in .ps1 are run with PowerShell, anything else as an executable. The tool must
  accept -OutFile <path>.

.EXAMPLE
  run-tool.ps1 -Tool persistence-inventory.ps1 -OutFile C:\windows\TEMP\inventory.zip
#>
param(
    [Parameter(Mandatory = $true)][string]$Tool,
    [Parameter(Mandatory = $true)][string]$OutFile
)

$ErrorActionPreference = 'Stop'
if ($Tool -notmatch '^[A-Za-z0-9._-]+$') {
    Write-Output "tool name $Tool is not a library file name"
    exit 2
}
$candidates = @(
    (Join-Path $env:ProgramData 'Microsoft\Windows Defender Advanced Threat Protection\Downloads'),
    $PSScriptRoot
) | ForEach-Object { Join-Path $_ $Tool }
$path = $candidates | Where-Object { Test-Path -LiteralPath $_ } | Select-Object -First 1
if (-not $path) {
    Write-Output "tool $Tool not found in: $($candidates -join ', ')"
    exit 2
}

if (Test-Path -LiteralPath $OutFile) { Remove-Item -LiteralPath $OutFile -Force }
try {
    if ($path.EndsWith('.ps1')) {
        & $path -OutFile $OutFile
        $code = if ($?) { 0 } else { 1 }
    } else {
        $proc = Start-Process -FilePath $path -ArgumentList @('-OutFile', $OutFile) -Wait -PassThru -NoNewWindow
        $code = $proc.ExitCode
    }
} finally {
    Remove-Item -LiteralPath $path -Force -ErrorAction SilentlyContinue
}
if ($code -ne 0 -or -not (Test-Path -LiteralPath $OutFile)) {
    Write-Output "$Tool failed (exit code $code) or wrote no $OutFile"
    exit 1
}
Write-Output "$Tool wrote $OutFile ($((Get-Item -LiteralPath $OutFile).Length) bytes)"
