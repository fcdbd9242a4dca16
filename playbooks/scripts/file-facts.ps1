<#
.SYNOPSIS
  Prints the facts of one file: size, timestamps, SHA-256, signature, and zone identifier.

.DESCRIPTION
  Used by playbooks/collect-file.yaml before the file is fetched, so the run's record shows
  what was on the device even if the fetch fails. The path arrives base64-encoded (UTF-8)
  because Live Response refuses spaces and `; & | ! $ ( )` in script arguments. Read-only.
  Exits 1 when the file does not exist.

.EXAMPLE
  file-facts.ps1 -PathBase64 QzpcV2luZG93c1xub3RlcGFkLmV4ZQ==
#>
param([Parameter(Mandatory = $true)][string]$PathBase64)

$ErrorActionPreference = 'Stop'
$path = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($PathBase64))
if (-not (Test-Path -LiteralPath $path -PathType Leaf)) {
    Write-Output "no file at $path"
    exit 1
}
$item = Get-Item -LiteralPath $path -Force
$zone = Get-Content -LiteralPath $path -Stream Zone.Identifier -ErrorAction SilentlyContinue
[pscustomobject]@{
    Path             = $item.FullName
    Length           = $item.Length
    CreationTimeUtc  = $item.CreationTimeUtc.ToString('o')
    LastWriteTimeUtc = $item.LastWriteTimeUtc.ToString('o')
    LastAccessUtc    = $item.LastAccessTimeUtc.ToString('o')
    Sha256           = (Get-FileHash -LiteralPath $path -Algorithm SHA256).Hash.ToLowerInvariant()
    Signature        = (Get-AuthenticodeSignature -LiteralPath $path).Status.ToString()
    Owner            = (Get-Acl -LiteralPath $path).Owner
    ZoneIdentifier   = ($zone -join '; ')
} | Format-List
