"""The HTTP front: thin routes over the domain modules."""
