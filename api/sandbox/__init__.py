"""The tenant-code sandbox: Rules and Actions in QuickJS worker processes, effects as records."""
