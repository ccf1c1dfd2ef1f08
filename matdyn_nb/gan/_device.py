"""The one place a ``device=`` argument becomes a torch device, with an error that says what is there."""

import torch

from ..errors import ConfigError

__all__ = ["resolve_device"]


def resolve_device(device, default: torch.device | None = None) -> torch.device:
    """``device`` (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``, a torch.device) checked to exist here.

    Parameters
    ----------
    device
        The requested device, or None for ``default``.
    default
        The device used when ``device`` is None.

    Raises
    ------
    ConfigError
        For a name torch does not know, or a GPU this torch build or machine does not have.
    """
    if device is None and default is not None:
        return default
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as err:
        raise ConfigError(
            f"device={device!r} is not a device torch knows ({err}); use 'cpu', 'cuda' or 'cuda:0'"
        ) from err
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                f"device={device!r} but this torch ({torch.__version__}) sees no CUDA GPU; use device='cpu', or on "
                "a GPU machine install the torch build for its CUDA version"
            )
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise ConfigError(
                f"device={device!r} but only {torch.cuda.device_count()} CUDA GPU(s) are visible; use "
                f"'cuda:0'..'cuda:{torch.cuda.device_count() - 1}'"
            )
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device={device!r} but Apple's MPS backend is not available here; use device='cpu'")
    return resolved
