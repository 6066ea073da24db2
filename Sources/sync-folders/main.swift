import SyncCommands

FoldersCommand.main()
