"""Pushing images to a registry through the Docker engine (connected by fpack.container).

`push` returns the digest the registry stored (from the push stream's `aux` record); `remote_digest`
asks the registry what a tag points at now, so an image already there is not pushed again. Registry
credentials travel only in `auth_config` and never appear in messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fpack import container
from fpack.cloud.safety import Secrets
from fpack.errors import DeployError


class RegistryClient:
    def __init__(self, docker: Any | None = None, *, secrets: Secrets | None = None) -> None:
        self._docker = docker
        self.secrets = secrets or Secrets()

    @property
    def docker(self) -> Any:
        if self._docker is None:
            self._docker = container.client()
        return self._docker

    def local_digests(self, reference: str) -> frozenset[str]:
        """The `repository@sha256:…` digests the engine recorded for a local image."""
        import docker.errors  # noqa: PLC0415

        try:
            attrs = self.docker.images.get(reference).attrs
        except docker.errors.ImageNotFound as e:
            raise DeployError(f"image {reference} is not in the Docker engine",
                              hint="run fpack build --target docker (deploy builds it when "
                              "stale; it may have been removed since)") from e
        return frozenset(attrs.get("RepoDigests") or ())

    def remote_digest(self, reference: str, auth: Mapping[str, str] | None) -> str | None:
        """The digest `reference` has in its registry now, or None when it is not there."""
        import docker.errors  # noqa: PLC0415

        try:
            data = self.docker.images.get_registry_data(reference, auth_config=auth)
        except docker.errors.APIError:
            return None  # not pushed yet (or not readable): pushing decides
        return str(data.id)

    def push(self, reference: str, auth: Mapping[str, str] | None) -> str:
        """Push `repository:tag`; the digest the registry stored."""
        repository, _, tag = reference.rpartition(":")
        digest = None
        try:
            stream = self.docker.api.push(repository, tag=tag, auth_config=auth, stream=True,
                                          decode=True)
            for chunk in stream:
                if "error" in chunk:
                    detail = chunk.get("errorDetail", {}).get("message") or chunk["error"]
                    raise DeployError(f"pushing {reference} failed: "
                                      f"{self.secrets.scrub(str(detail))}",
                                      hint="check the repository name and your registry login")
                digest = chunk.get("aux", {}).get("Digest") or digest
        except DeployError:
            raise
        except Exception as e:
            raise DeployError(f"pushing {reference} failed: {self.secrets.scrub(str(e))}") from e
        if digest is None:
            raise DeployError(f"pushing {reference}: the registry returned no digest")
        return str(digest)
