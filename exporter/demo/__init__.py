"""The demo: synthetic activity and a ready-to-look-at service."""
