import SyncCommands

PruneCommand.main()
