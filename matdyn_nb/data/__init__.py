"""Image stacks as labelled arrays: reading/writing, checks, normalisation, augmentation,
power-of-two grids and the torch seam."""

from .augment import rotate_augment
from .grid import check_grid, fit_to_grid, is_power_of_two
from .io import FORMATS, load_stack, save_stack
from .normalize import denormalize, normalization_of, normalize, normalize_like
from .prepare import prepare_for_training
from .stack import DIMS_2D, DIMS_3D, as_stack, check_stack, pixel_sizes, spatial_dims
from .tensor import from_tensor, to_tensor

__all__ = [
    "DIMS_2D",
    "DIMS_3D",
    "FORMATS",
    "as_stack",
    "check_grid",
    "check_stack",
    "denormalize",
    "fit_to_grid",
    "from_tensor",
    "is_power_of_two",
    "load_stack",
    "normalization_of",
    "normalize",
    "normalize_like",
    "pixel_sizes",
    "prepare_for_training",
    "rotate_augment",
    "save_stack",
    "spatial_dims",
    "to_tensor",
]
