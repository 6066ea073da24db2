import SyncCommands

PeerCommand.main()
