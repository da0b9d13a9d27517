"""The ``hall`` command: configuration, embedded services and the composition of the whole system."""
