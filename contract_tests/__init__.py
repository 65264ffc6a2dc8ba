"""Contract checks that run against any deployment of the Xentree API, real or mock."""
