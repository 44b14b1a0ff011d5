"""Where studies live: the storage handle, how each kind opens and locks, what its errors mean."""
