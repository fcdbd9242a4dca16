<#
.SYNOPSIS
  Inventories common Windows persistence locations into CSV files, zipped to -OutFile.

.DESCRIPTION
  The tool of playbooks/persistence-inventory.yaml, put on the device by PutFile and started by
  run-tool.ps1. Read-only: it lists, it never changes anything.

  Collected, one CSV each: Run/RunOnce keys (machine and every loaded user hive), services with
  their binaries and signatures, scheduled tasks with their actions, startup folder entries,
  WMI event subscriptions (filters, consumers, bindings), and Winlogon/Image File Execution
  Options values that are commonly abused.
#>
param([Parameter(Mandatory = $true)][string]$OutFile)

$ErrorActionPreference = 'Stop'
$stage = Join-Path $env:windir ("TEMP\fleetlr-persistence-" + [guid]::NewGuid().ToString('N'))
New-Item -ItemType Directory -Path $stage | Out-Null

function Save([string]$Name, [scriptblock]$Rows) {
    try { & $Rows | Export-Csv -NoTypeInformation -Encoding UTF8 -Path (Join-Path $stage $Name) }
    catch { "$Name`t$($_.Exception.Message)" | Add-Content -Path (Join-Path $stage 'errors.txt') }
}

function Signature([string]$Path) {
    if (-not $Path -or -not (Test-Path -LiteralPath $Path)) { return '' }
    (Get-AuthenticodeSignature -LiteralPath $Path).Status.ToString()
}

Save 'run-keys.csv' {
    $roots = @('HKLM:') + @(Get-ChildItem 'Registry::HKEY_USERS' | ForEach-Object { "Registry::$($_.Name)" })
    foreach ($root in $roots) {
        foreach ($sub in 'Software\Microsoft\Windows\CurrentVersion\Run', 'Software\Microsoft\Windows\CurrentVersion\RunOnce',
                         'Software\WOW6432Node\Microsoft\Windows\CurrentVersion\Run') {
            $key = Join-Path $root $sub
            $item = Get-ItemProperty -Path $key -ErrorAction SilentlyContinue
            if (-not $item) { continue }
            foreach ($prop in $item.PSObject.Properties | Where-Object { $_.Name -notlike 'PS*' }) {
                [pscustomobject]@{ Key = $key; Name = $prop.Name; Command = $prop.Value }
            }
        }
    }
}
Save 'services.csv' {
    Get-CimInstance Win32_Service | ForEach-Object {
        $bin = if ($_.PathName -match '^"([^"]+)"') { $Matches[1] } else { ($_.PathName -split ' ')[0] }
        [pscustomobject]@{ Name = $_.Name; State = $_.State; StartMode = $_.StartMode; Account = $_.StartName
            Command = $_.PathName; Signature = Signature $bin }
    }
}
Save 'scheduled-tasks.csv' {
    Get-ScheduledTask | ForEach-Object {
        foreach ($a in $_.Actions) {
            [pscustomobject]@{ Task = $_.TaskPath + $_.TaskName; State = $_.State; Author = $_.Author
                Execute = $a.Execute; Arguments = $a.Arguments; Signature = Signature ([Environment]::ExpandEnvironmentVariables("$($a.Execute)")) }
        }
    }
}
Save 'startup-folders.csv' {
    $folders = @("$env:ProgramData\Microsoft\Windows\Start Menu\Programs\StartUp") +
        @(Get-ChildItem 'C:\Users' -Directory | ForEach-Object { "$($_.FullName)\AppData\Roaming\Microsoft\Windows\Start Menu\Programs\Startup" })
    Get-ChildItem -LiteralPath ($folders | Where-Object { Test-Path -LiteralPath $_ }) -File -Force |
        Select-Object FullName, Length, CreationTimeUtc, LastWriteTimeUtc
}
Save 'wmi-subscriptions.csv' {
    foreach ($class in '__EventFilter', '__EventConsumer', '__FilterToConsumerBinding') {
        Get-CimInstance -Namespace root/subscription -ClassName $class | ForEach-Object {
            [pscustomobject]@{ Class = $class; Name = $_.Name; Detail = ($_ | Format-List * | Out-String).Trim() }
        }
    }
}
Save 'winlogon-ifeo.csv' {
    $w = Get-ItemProperty 'HKLM:\Software\Microsoft\Windows NT\CurrentVersion\Winlogon'
    [pscustomobject]@{ Key = 'Winlogon'; Name = 'Shell'; Value = $w.Shell }
    [pscustomobject]@{ Key = 'Winlogon'; Name = 'Userinit'; Value = $w.Userinit }
    Get-ChildItem 'HKLM:\Software\Microsoft\Windows NT\CurrentVersion\Image File Execution Options' | ForEach-Object {
        $d = (Get-ItemProperty -Path $_.PSPath).Debugger
        if ($d) { [pscustomobject]@{ Key = 'IFEO'; Name = $_.PSChildName; Value = $d } }
    }
}

try {
    Add-Type -AssemblyName System.IO.Compression.FileSystem
    [System.IO.Compression.ZipFile]::CreateFromDirectory($stage, $OutFile)
} finally {
    Remove-Item -Recurse -Force $stage -ErrorAction SilentlyContinue
}
