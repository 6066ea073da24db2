import SyncCommands

RestoreCommand.main()
