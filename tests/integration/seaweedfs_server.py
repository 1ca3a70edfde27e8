"""The throwaway SeaweedFS server, now in :mod:`missiva.devtools.seaweedfs` (the cluster
launcher starts it too); kept under this name for the integration tests."""

from missiva.devtools.seaweedfs import (
    SeaweedS3,
    SeaweedStartupError,
    free_ports,
    running_seaweedfs,
    weed_binary,
    weed_command,
)

__all__ = [
    "SeaweedS3",
    "SeaweedStartupError",
    "free_ports",
    "running_seaweedfs",
    "weed_binary",
    "weed_command",
]
