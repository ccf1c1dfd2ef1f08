"""Layout of the Ta test chart and its exact pixel-coverage renderer (twins.md §1.2).

Chart coordinates are in nm, origin at the chart centre, ``x`` to the right and ``y`` down
(image convention). The chart is a binary Ta map; a pixel's value is the fraction of its
area covered by Ta. Rectangles are rasterised by exact box overlap and the Siemens star
by 2 x 2 supersampling onto a fine canvas (``supersample`` cells per image pixel side);
a summed-area table of the canvas then gives the exact area integral of any
axis-aligned box by bilinear interpolation, so frames at any sub-pixel offset cost only a
few interpolations per pixel.
"""

import json
from functools import lru_cache

import numpy as np
from scipy import ndimage

__all__: list[str] = []

CANVAS_HALF_NM = (3000.0, 6000.0)  # (y, x) half-extent of the chart canvas
SLIT_LABELS = ("d1", "d2")
_SLIT_BAND_NM = (300.0, 1800.0)  # y range of the slit pads (slits 1.5 um long)
_PAD_NM = 250.0
_MOTIF_PERIOD_NM = 2000.0
_MOTIF_CENTRES_NM = (-5000.0, -3000.0, -1000.0, 1000.0, 3000.0, 5000.0)
_STAR_PAIRS = 16
_STAR_CENTRE_NM = (-900.0, 0.0)  # (y, x)
_STAR_RADII_NM = (300.0, 1050.0)


def chart_layout(
    slit_widths_nm: tuple[float, float] = (311.0, 324.0),
    *,
    y_scale: float = 1.0,
    min_feature_nm: float = 0.0,
) -> dict:
    """Build the chart: Ta rectangles, the Siemens star and the slit table.

    Parameters
    ----------
    slit_widths_nm
        True gap widths ``(d1, d2)``.
    y_scale
        Factor on vertical positions and lengths (not on feature widths); 1 for the native
        convention, < 1 to fit the chart under a smaller triangle (``pixel_convention="table1"``).
    min_feature_nm
        Features narrower than this are dropped (100 nm gratings, the inner star); for
        coarse grids where they would only alias.

    Returns
    -------
    dict
        ``rects`` (n, 4) array of Ta rectangles ``[x0, x1, y0, y1]`` in nm; ``star`` (dict or
        None); ``slits``: list of dicts with ``id``, ``label``, ``width_nm``, ``x_nm``, ``y_nm``
        (gap centre) and ``length_nm``; ``features``: a JSON-ready description.
    """
    s = float(y_scale)
    rects: list[list[float]] = []
    features: list[dict] = []

    # slit pairs: pad | d1 | pad | d2 | pad, repeated every 2 um along x
    y0, y1 = _SLIT_BAND_NM[0] * s, _SLIT_BAND_NM[1] * s
    d1, d2 = slit_widths_nm
    motif = 3 * _PAD_NM + d1 + d2
    slits = []
    for m, xc in enumerate(_MOTIF_CENTRES_NM):
        left = xc - motif / 2
        edges = np.cumsum([left, _PAD_NM, d1, _PAD_NM, d2, _PAD_NM])
        for k in (0, 2, 4):
            rects.append([edges[k], edges[k + 1], y0, y1])
        for j, (label, width) in enumerate(zip(SLIT_LABELS, (d1, d2), strict=True)):
            slits.append(
                {
                    "id": 2 * m + j,
                    "label": label,
                    "width_nm": float(width),
                    "x_nm": float((edges[2 * j + 1] + edges[2 * j + 2]) / 2),
                    "y_nm": (y0 + y1) / 2,
                    "length_nm": y1 - y0,
                }
            )
    features.append(
        {
            "kind": "slit_pairs",
            "widths_nm": [d1, d2],
            "pad_nm": _PAD_NM,
            "period_nm": _MOTIF_PERIOD_NM,
            "y_nm": [y0, y1],
        }
    )

    top = 150.0 * s  # lower edge of the upper band
    gratings = [
        # (line width, periods, vertical lines?, x start, line length)
        (200.0, 4, True, -3000.0, 1200.0),
        (100.0, 8, True, 1400.0, 1200.0),
        (100.0, 8, False, 3300.0, 1200.0),
        (200.0, 4, False, -4500.0, 1200.0),
    ]
    for width, periods, vertical, x_start, length in gratings:
        if width < min_feature_nm:
            continue
        for k in range(periods):
            a = k * 2 * width
            if vertical:
                rects.append([x_start + a, x_start + a + width, top - length * s, top])
            else:
                rects.append([x_start, x_start + length, top - a - width, top - a])
        features.append(
            {
                "kind": "grating",
                "line_nm": width,
                "periods": periods,
                "orientation": "vertical" if vertical else "horizontal",
                "x_start_nm": x_start,
            }
        )
    for x_start, width in ((-5800.0, 900.0), (4800.0, 600.0)):
        rects.append([x_start, x_start + width, top - 1600.0 * s, top])
        features.append({"kind": "bar", "width_nm": width, "x_start_nm": x_start})

    r_in = max(_STAR_RADII_NM[0] * s, min_feature_nm * _STAR_PAIRS / np.pi)
    star = None
    if r_in < _STAR_RADII_NM[1] * s:
        star = {
            "center_nm": [_STAR_CENTRE_NM[0] * s, _STAR_CENTRE_NM[1]],
            "n_pairs": _STAR_PAIRS,
            "r_in_nm": float(r_in),
            "r_out_nm": _STAR_RADII_NM[1] * s,
        }
        features.append({"kind": "siemens_star", **star})
    return {"rects": np.asarray(rects, float), "star": star, "slits": slits, "features": features}


def layout_json(layout: dict) -> str:
    """The layout as a JSON string for ``attrs``."""
    return json.dumps(
        {"features": layout["features"], "slits": layout["slits"], "canvas_half_nm": list(CANVAS_HALF_NM)}
    )


@lru_cache(maxsize=4)
def coverage_table(layout_key: str, step_nm: float) -> np.ndarray:
    """Summed-area table of the Ta coverage on a fine canvas of ``step_nm`` cells.

    ``layout_key`` is the JSON of the :func:`chart_layout` arguments, so that the table is
    built once per chart and shared by all frames (and dask tasks) of a dataset.
    """
    layout = chart_layout(**json.loads(layout_key))
    hy, hx = CANVAS_HALF_NM
    ny, nx = int(np.ceil(2 * hy / step_nm)), int(np.ceil(2 * hx / step_nm))
    cover = np.zeros((ny, nx))
    for x0, x1, y0, y1 in layout["rects"]:
        ix = slice(max(int((x0 + hx) // step_nm), 0), min(int((x1 + hx) // step_nm) + 1, nx))
        iy = slice(max(int((y0 + hy) // step_nm), 0), min(int((y1 + hy) // step_nm) + 1, ny))
        cover[iy, ix] += np.outer(_overlap(y0, y1, iy, hy, step_nm), _overlap(x0, x1, ix, hx, step_nm))
    if layout["star"] is not None:
        _add_star(cover, layout["star"], step_nm)
    np.minimum(cover, 1.0, out=cover)
    table = np.zeros((ny + 1, nx + 1))
    table[1:, 1:] = cover.cumsum(0).cumsum(1)
    return table


def _overlap(a: float, b: float, cells: slice, half: float, step: float) -> np.ndarray:
    """Covered fraction of each canvas cell in ``cells`` by the interval [a, b]."""
    lo = np.arange(cells.start, cells.stop) * step - half
    return np.clip(np.minimum(b, lo + step) - np.maximum(a, lo), 0.0, step) / step


def _add_star(cover: np.ndarray, star: dict, step: float, sub: int = 2) -> None:
    """Add a Siemens star (Ta spokes where floor(theta N / pi) is even) to the canvas."""
    hy, hx = CANVAS_HALF_NM
    (cy, cx), r_out = star["center_nm"], star["r_out_nm"]
    iy = np.arange(max(int((cy - r_out + hy) // step), 0), min(int((cy + r_out + hy) // step) + 1, cover.shape[0]))
    ix = np.arange(max(int((cx - r_out + hx) // step), 0), min(int((cx + r_out + hx) // step) + 1, cover.shape[1]))
    offsets = (np.arange(sub) + 0.5) / sub
    ys = ((iy[:, None] + offsets).ravel() * step - hy - cy)[:, None]
    xs = ((ix[:, None] + offsets).ravel() * step - hx - cx)[None, :]
    r = np.hypot(ys, xs)
    spoke = np.floor(np.arctan2(ys, xs) * star["n_pairs"] / np.pi).astype(int) % 2 == 0
    inside = (r >= star["r_in_nm"]) & (r <= r_out) & spoke
    block = inside.reshape(iy.size, sub, ix.size, sub).mean(axis=(1, 3))
    cover[np.ix_(iy, ix)] += block


def render_coverage(
    table: np.ndarray,
    step_nm: float,
    rows_nm: np.ndarray,
    cols_nm: np.ndarray,
) -> np.ndarray:
    """Ta fraction of each pixel, given pixel edges in chart coordinates.

    Parameters
    ----------
    table
        Summed-area table from :func:`coverage_table`.
    step_nm
        Its cell size.
    rows_nm, cols_nm
        Increasing pixel-edge positions (n + 1 and m + 1 values) in chart nm.

    Returns
    -------
    numpy.ndarray
        ``(n, m)`` coverage in [0, 1].
    """
    hy, hx = CANVAS_HALF_NM
    v = (np.asarray(rows_nm) + hy) / step_nm
    u = (np.asarray(cols_nm) + hx) / step_nm
    grid = np.meshgrid(v, u, indexing="ij")
    # the integral of a cell-wise constant map is bilinear inside each cell: order 1 is exact
    f = ndimage.map_coordinates(table, grid, order=1, mode="nearest")
    area = np.diff(np.diff(f, axis=0), axis=1)
    return np.clip(area / (np.diff(v)[:, None] * np.diff(u)[None, :]), 0.0, 1.0)
