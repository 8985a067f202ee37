"""One module per use case: its request model, task params, accept step and task body."""
