import SyncCommands

VersionsCommand.main()
