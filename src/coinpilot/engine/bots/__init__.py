"""Bot administration: creating, editing, archiving bots and starting/stopping them, with the
checks the API, dashboard and CLI share."""
