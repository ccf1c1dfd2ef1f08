"""The rounded-triangle probe support shared by the CXDI twins (twins.md §1.3)."""

import numpy as np
from scipy import ndimage

__all__ = ["triangle_support"]


def _triangle_vertices(side: float, center: tuple[float, float]) -> np.ndarray:
    """Vertices (y, x) of an equilateral triangle, apex up (smaller y), centroid at ``center``."""
    circumradius = side / np.sqrt(3.0)
    angles = np.deg2rad([90.0, 210.0, 330.0])
    cy, cx = center
    return np.stack([cy - circumradius * np.sin(angles), cx + circumradius * np.cos(angles)], axis=1)


def _distance_outside(py: np.ndarray, px: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Distance from points to a convex polygon, 0 inside."""
    inside = np.ones(py.shape, bool)
    distance = np.full(py.shape, np.inf)
    n = len(vertices)
    # orientation of the vertex order, so "inside" is on the same side of every edge
    (ay, ax), (by, bx), (cy, cx) = vertices[:3]
    orientation = np.sign((bx - ax) * (cy - ay) - (by - ay) * (cx - ax))
    for k in range(n):
        (y0, x0), (y1, x1) = vertices[k], vertices[(k + 1) % n]
        ey, ex = y1 - y0, x1 - x0
        cross = ex * (py - y0) - ey * (px - x0)
        inside &= orientation * cross >= 0
        t = np.clip(((py - y0) * ey + (px - x0) * ex) / (ey * ey + ex * ex), 0.0, 1.0)
        distance = np.minimum(distance, np.hypot(py - (y0 + t * ey), px - (x0 + t * ex)))
    return np.where(inside, 0.0, distance)


def triangle_support(
    shape: tuple[int, int],
    pixel_size: float,
    *,
    side: float,
    corner_radius: float,
    edge_sigma_px: float = 1.5,
    center: tuple[float, float] | None = None,
    supersample: int = 4,
) -> np.ndarray:
    """Soft support of a rounded equilateral triangle, apex up, on a pixel grid.

    Parameters
    ----------
    shape
        ``(ny, nx)`` of the frame.
    pixel_size
        Pixel size, in the units of ``side`` and ``corner_radius``.
    side
        Side of the triangle (the paper's beam: 5 µm).
    corner_radius
        Radius of the rounded corners (twins.md: 0.25 µm).
    edge_sigma_px
        Gaussian softening of the edge, in pixels.
    center
        ``(y, x)`` of the centroid in pixels (default: the frame centre).
    supersample
        Sub-pixels per pixel side for the area coverage.

    Returns
    -------
    numpy.ndarray
        ``shape`` float64 array in [0, 1]: the illuminated fraction of each pixel,
        softened at the edge.
    """
    ny, nx = shape
    cy, cx = center if center is not None else ((ny - 1) / 2, (nx - 1) / 2)
    # rounded triangle = the triangle shrunk by r (same incentre) dilated by a disk of radius r
    inradius = side / (2 * np.sqrt(3.0))
    inner_side = side * max(inradius - corner_radius, 0.0) / inradius
    sub = (np.arange(ny * supersample) + 0.5) / supersample - 0.5
    sxx = (np.arange(nx * supersample) + 0.5) / supersample - 0.5
    py, px = np.meshgrid(sub * pixel_size, sxx * pixel_size, indexing="ij")
    vertices = _triangle_vertices(inner_side, (cy * pixel_size, cx * pixel_size))
    covered = _distance_outside(py, px, vertices) <= corner_radius
    coverage = covered.reshape(ny, supersample, nx, supersample).mean(axis=(1, 3))
    if edge_sigma_px > 0:
        coverage = ndimage.gaussian_filter(coverage, edge_sigma_px, mode="constant")
    return np.clip(coverage, 0.0, 1.0)
