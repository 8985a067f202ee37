"""The app registry's domain logic: uploads, artifact views, deletions."""
