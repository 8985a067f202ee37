"""Background tasks: records in the state store, a taskiq broker, the task functions."""
