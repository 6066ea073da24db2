import SyncCommands

Dispatcher.main()
