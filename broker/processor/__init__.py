"""The command processor: commands in, events + reply + offset out, in one transaction."""
