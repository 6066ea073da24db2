import SyncCommands

HistoryCommand.main()
