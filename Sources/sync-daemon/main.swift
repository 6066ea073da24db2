import SyncCommands

DaemonCommand.main()
