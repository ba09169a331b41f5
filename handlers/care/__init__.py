"""Care: urgent health words get a safety answer and a person; losses stop marketing; staff
can take a chat over."""
