"""Slits of the Ta test chart: located in the image, measured by profiles (twins.md §1.8, paper Fig. 4b).

A slit is the bright gap between two parallel Ta bars. :func:`locate_slits` finds the bars
in each image (Otsu mask of the smoothed phase, elongated connected regions) and the gaps of
slit width between bars that face each other, so nothing needs the twin's truth;
:func:`measure_slit_width` measures one slit; :func:`track_slit_widths` measures the slits of
every image of a stack, either located per image or given in a reference and moved by the
matched motion.
"""

import numpy as np
import xarray as xr
from scipy import ndimage
from skimage.filters import threshold_otsu
from skimage.measure import label, regionprops

from .._provenance import provenance_attrs
from ..data import pixel_sizes
from ._images import MOTION_VARS, image_stack, leading_coords, leading_dims

__all__ = ["locate_slits", "measure_slit_width", "track_slit_widths"]

_SLIT_VARS = ("slit_row_px", "slit_col_px")
_MAX_TURN_DEG = 10.0  # bars further apart in angle than this do not bound one slit


def measure_slit_width(
    image: np.ndarray | xr.DataArray,
    center: tuple[float, float],
    *,
    length_px: float,
    width_px: float,
    angle_deg: float = 0.0,
    pixel_size: float | tuple[float, float] | None = None,
    percentiles: tuple[float, float] = (5.0, 95.0),
    polarity: str = "bright",
) -> xr.Dataset:
    """Width of a slit (a gap between two absorbing pads) from one profile per row.

    Profiles are taken perpendicular to the slit, one per pixel along it. Each is
    thresholded at the midpoint between the low and high levels of the patch (its 5th and
    95th percentiles); the width is the distance between the two 50 % crossings around
    the slit centre, found by linear interpolation.

    Parameters
    ----------
    image
        One 2D image ``(y, x)``; a DataArray may carry size-1 ``frame``/``channel`` dims and
        gives the pixel size from its ``y`` and ``x`` coords, and the units from their
        ``units`` attr (nm where it has none).
    center
        ``(row, col)`` of the slit centre in pixels.
    length_px
        Length along the slit over which profiles are taken (one per pixel).
    width_px
        Length of each profile across the slit; it should span both pads.
    angle_deg
        Angle of the slit's long axis from the image y axis, counter-clockwise as displayed
        (the convention of :func:`matdyn_nb.data.rotate_augment`); 0 for a vertical slit.
    pixel_size
        Pixel size in nm, one number or ``(y, x)``; by default from the DataArray's coords,
        else widths are in px. Widths are scaled by the size along the profiles: for pixels
        that are not square the slit must be axis-aligned (``angle_deg`` a multiple of 90).
    percentiles
        Percentiles of the patch taken as the pad and gap levels.
    polarity
        ``"bright"``: the gap is above the pads (phase of a transmitted gap between Ta);
        ``"dark"``: below.

    Returns
    -------
    xarray.Dataset
        ``width`` ``(row)`` per profile (NaN where no crossing pair was found), and scalars
        ``width_mean``, ``width_sd`` (over rows, ddof 1) and ``n_rows`` (valid profiles).

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((40, 40)); img[:, 15:25] = 1.0
    >>> res = measure_slit_width(img, (20, 19.5), length_px=20, width_px=30)
    >>> float(res.width_mean)
    10.0
    """
    if polarity not in ("bright", "dark"):
        raise ValueError(f"polarity must be 'bright' or 'dark', got {polarity!r}")
    if length_px < 1 or width_px < 3:
        raise ValueError(f"length_px must be >= 1 and width_px >= 3, got {length_px} and {width_px}")
    lo_pct, hi_pct = percentiles
    if not 0 <= lo_pct < hi_pct <= 100:
        raise ValueError(f"percentiles must be (low, high) with 0 <= low < high <= 100, got {percentiles}")
    units = "nm"
    if isinstance(image, xr.DataArray):
        extra = [d for d in image.dims if d not in ("y", "x")]
        if any(image.sizes[d] != 1 for d in extra) or image.ndim - len(extra) != 2:
            raise ValueError(f"expected one (y, x) image, got dims {dict(image.sizes)}; select one with .isel()")
        if pixel_size is None and "x" in image.coords and image.sizes["x"] > 1:
            size_x = float(image.x[1] - image.x[0])
            size_y = float(image.y[1] - image.y[0]) if "y" in image.coords and image.sizes["y"] > 1 else size_x
            pixel_size = (size_y, size_x)
            units = str(image.x.attrs.get("units", "nm"))
        image = image.squeeze(extra).transpose("y", "x").values
    image = np.asarray(image, float)
    if image.ndim != 2:
        raise ValueError(f"expected a 2D image, got shape {image.shape}")
    if pixel_size is None:
        units, step = "px", 1.0
    else:
        step = _profile_step(pixel_size, angle_deg)

    a = np.deg2rad(angle_deg)
    along_dir = np.array([np.cos(a), np.sin(a)])  # (row, col) of the long axis
    across_dir = np.array([-np.sin(a), np.cos(a)])
    # sample on whole pixels when the slit is axis-aligned: start from the nearest pixel
    origin = np.round(np.asarray(center, float))
    v_centre = float(np.dot(np.asarray(center, float) - origin, across_dir))
    u = np.arange(-(length_px // 2), length_px - length_px // 2)
    v = np.arange(-int(width_px // 2), int(width_px // 2) + 1)
    pts = origin[:, None, None] + along_dir[:, None, None] * u[None, :, None] + across_dir[:, None, None] * v
    profiles = ndimage.map_coordinates(image, pts.reshape(2, -1), order=1, mode="constant", cval=np.nan)
    profiles = profiles.reshape(u.size, v.size)
    if polarity == "dark":
        profiles = -profiles
    rows_ok = np.all(np.isfinite(profiles), axis=1)
    widths = np.full(u.size, np.nan)
    threshold = np.nan
    if rows_ok.any():
        low, high = np.percentile(profiles[rows_ok], [lo_pct, hi_pct])
        threshold = (low + high) / 2
        for i in np.flatnonzero(rows_ok):
            widths[i] = _crossing_width(profiles[i], v, threshold, v_centre)
    widths *= step
    valid = np.isfinite(widths)
    return xr.Dataset(
        {
            "width": ("row", widths, {"units": units, "long_name": "slit width per profile"}),
            "width_mean": (
                (),
                float(np.mean(widths[valid])) if valid.any() else np.nan,
                {"units": units, "long_name": "mean slit width"},
            ),
            "width_sd": (
                (),
                float(np.std(widths[valid], ddof=1)) if valid.sum() > 1 else np.nan,
                {"units": units, "long_name": "SD of the slit width over profiles"},
            ),
            "n_rows": ((), int(valid.sum()), {"units": "1", "long_name": "profiles with a width"}),
        },
        coords={"row": ("row", u, {"units": "px", "long_name": "position along the slit"})},
        attrs={
            "threshold": float(threshold),
            "angle_deg": float(angle_deg),
            "pixel_size": step,
            "center_px": [float(c) for c in center],
            "polarity": polarity,
        },
    )


def _profile_step(pixel_size: float | tuple[float, float], angle_deg: float) -> float:
    """Length of one pixel step along the profiles across a slit at ``angle_deg``, from the pixel size (y, x)."""
    size_y, size_x = np.broadcast_to(np.asarray(pixel_size, float), 2)
    if np.isclose(size_y, size_x, rtol=1e-6, atol=0.0):  # square up to the rounding of the coords
        return float(size_x)
    a = np.deg2rad(angle_deg)
    if np.isclose(np.sin(a), 0.0, atol=1e-9):  # vertical slit: profiles along x
        return float(size_x)
    if np.isclose(np.cos(a), 0.0, atol=1e-9):  # horizontal slit: profiles along y
        return float(size_y)
    raise ValueError(
        f"the pixels are not square ({size_y} x {size_x}, y x x), so a slit at {angle_deg} degrees has no single "
        "pixel size across it; resample the image onto square pixels, or measure an axis-aligned slit (angle_deg "
        "a multiple of 90)"
    )


def _crossing_width(profile: np.ndarray, v: np.ndarray, threshold: float, v_centre: float) -> float:
    """Distance (px) between the rising crossing left of the centre and the falling one right of it."""
    above = profile > threshold
    k = np.flatnonzero(above[:-1] != above[1:])
    if k.size == 0:
        return np.nan
    pos = v[k] + (threshold - profile[k]) / (profile[k + 1] - profile[k])
    rising = ~above[k]
    left = pos[rising & (pos <= v_centre)]
    right = pos[~rising & (pos >= v_centre)]
    if left.size == 0 or right.size == 0:
        return np.nan
    return float(right.min() - left.max())


def _bars(image: np.ndarray, min_length_px: float, smooth_px: float) -> list[tuple[float, float, float, float, float]]:
    """Elongated dark regions: (row, col, angle_deg, width_px, length_px) of each."""
    smooth = ndimage.gaussian_filter(image, smooth_px) if smooth_px > 0 else image
    dark = smooth < threshold_otsu(smooth)
    bars = []
    for region in regionprops(label(dark)):
        length, width = region.axis_major_length, region.axis_minor_length
        if length >= min_length_px and length >= 2.5 * max(width, 1.0):
            # regionprops: angle from the row axis to the long axis, counter-clockwise as displayed
            row, col = region.centroid
            bars.append((row, col, float(np.rad2deg(region.orientation)), width, length))
    return bars


def _facing_pairs(bars, order: np.ndarray) -> list[tuple[int, int, float, float]]:
    """Bars facing each other across a gap: ``(i, j, distance_px, angle_deg)``, ``j`` beyond ``i``.

    Two bars face each other when they are parallel (within ``_MAX_TURN_DEG``) and side by
    side: their extents along their mean axis overlap by at least half the shorter bar. A
    pair bounds a gap when each is the other's nearest facing bar on that side, so bars
    elsewhere in the image (a Siemens star's spokes that fall between two slit bars in the
    ordering across the image) do not break it. "Beyond" is along ``order`` (row, col);
    ``distance_px`` is between the centres across the mean axis, ``angle_deg`` that axis.
    """
    centre = np.array([b[:2] for b in bars])
    angle = np.array([b[2] for b in bars])
    length = np.array([b[4] for b in bars])
    turn = (angle[:, None] - angle[None, :] + 90) % 180 - 90  # orientations are defined modulo 180
    mid = angle[:, None] - turn / 2
    normal = np.stack([-np.sin(np.deg2rad(mid)), np.cos(np.deg2rad(mid))], axis=-1)  # (row, col)
    normal *= np.where(normal @ order < 0, -1.0, 1.0)[..., None]
    axis = np.stack([normal[..., 1], -normal[..., 0]], axis=-1)
    step = centre[None, :, :] - centre[:, None, :]  # step[i, j]: from bar i to bar j
    across = np.sum(step * normal, axis=-1)
    along = np.sum(step * axis, axis=-1)
    half_i, half_j = length[:, None] / 2, length[None, :] / 2
    overlap = np.minimum(half_i, along + half_j) - np.maximum(-half_i, along - half_j)
    facing = (np.abs(turn) <= _MAX_TURN_DEG) & (overlap >= np.minimum(half_i, half_j)) & (across > 0)
    distance = np.where(facing, across, np.inf)
    beyond, before = np.argmin(distance, axis=1), np.argmin(distance, axis=0)
    return [
        (i, int(j), float(distance[i, j]), float(mid[i, j]))
        for i, j in enumerate(beyond)
        if np.isfinite(distance[i, j]) and before[j] == i
    ]


def _slits_between(bars, gap_px: tuple[float, float], labels: tuple[str, str] | None) -> list[tuple]:
    """Slits (row, col, angle, gap, label) between facing bars, labelled by pairs sharing a bar."""
    if len(bars) < 2:
        return []
    reference = np.deg2rad(np.median([b[2] for b in bars]))
    order = np.array([-np.sin(reference), np.cos(reference)])  # (row, col), across the bars: left to right
    found = {}  # index of the left bar: (index of the right bar, slit)
    for i, j, distance, angle in _facing_pairs(bars, order):
        gap = distance - (bars[i][3] + bars[j][3]) / 2
        if gap_px[0] <= gap <= gap_px[1]:
            row, col = (bars[i][0] + bars[j][0]) / 2, (bars[i][1] + bars[j][1]) / 2
            found[i] = (j, [row, col, angle, gap, ""])
    if labels is not None:
        # along each run of slits linked by shared bars, the first of a pair gets labels[0], the next labels[1]
        for i in sorted(set(found) - {j for j, _ in found.values()}):
            while i in found and found[i][0] in found:
                j = found[i][0]
                found[i][1][4], found[j][1][4] = labels
                i = found[j][0]
    return sorted((tuple(slit) for _, slit in found.values()), key=lambda s: float(np.dot(s[:2], order)))


def locate_slits(
    images: xr.DataArray,
    *,
    gap_px: tuple[float, float],
    min_length_px: float,
    smooth_px: float = 1.0,
    polarity: str = "bright",
    labels: tuple[str, str] | None = None,
    channel: str | None = None,
) -> xr.Dataset:
    """Find the slits of each image from the image alone: gaps of slit width between parallel bars.

    The phase is smoothed, thresholded at Otsu's level (twins.md §1.8: Ta below it), and the
    connected dark regions that are long and thin are the bars. Two bars face each other
    when they are parallel (within 10 degrees), side by side (their extents along their axis
    overlap by at least half the shorter one) and each is the other's nearest such bar on
    that side; other features, wherever they lie (a Siemens star's spokes above the slits),
    do not come between them. Between two facing bars, a gap whose width lies in ``gap_px``
    is a slit, centred midway between the bars and oriented like them. Wider gaps (the
    space between slit pairs) and other structures are not slits. Use it where no slit
    positions are known: generated images, or a user's own frames.

    Parameters
    ----------
    images
        Phase images ``(..., [channel,] y, x)``.
    gap_px
        ``(low, high)``: the range of edge-to-edge gaps (px, from the bars' fitted ellipses)
        counted as slits. The ellipse fit reads a gap about 1-2 px narrower than the 50 %
        crossing width that :func:`measure_slit_width` gives.
    min_length_px
        Shortest bar (px along its axis) taken as a bar.
    smooth_px
        Gaussian smoothing (px) before thresholding; 0 for none.
    polarity
        ``"bright"``: the gaps are above the bars (phase of a transmitted gap between Ta);
        ``"dark"``: below.
    labels
        Two names for the slits of a pair (two slits sharing their middle bar), first and
        second along the direction perpendicular to the bars (left to right for vertical
        bars), e.g. ``("d1", "d2")`` for the paper's chart. Slits outside a pair, and all
        slits when None, get the label ``""``.
    channel
        Channel name, when the images have several channels.

    Returns
    -------
    xarray.Dataset
        Over ``(..., slit)``, padded with NaN (label ``""``) to the most slits found in one
        image: ``slit_row_px``, ``slit_col_px`` (centre), ``slit_angle_deg`` (long axis from
        the y axis, counter-clockwise as displayed), ``slit_gap_px`` (the gap between the
        bars' ellipses), ``slit_label``; ``n_slits`` ``(...)``. It can be passed as the
        ``slits`` of :func:`track_slit_widths` for the same images.

    Examples
    --------
    >>> from matdyn_nb.twins import ta_chart
    >>> ds = ta_chart("crop64", rng=0, n_frames=4, n_rotations=0)
    >>> found = locate_slits(ds.images, gap_px=(5, 15), min_length_px=20, labels=("d1", "d2"))
    >>> found.slit_col_px.dims
    ('frame', 'slit')
    """
    if polarity not in ("bright", "dark"):
        raise ValueError(f"polarity must be 'bright' or 'dark', got {polarity!r}")
    low, high = (float(v) for v in gap_px)
    if not 0 <= low < high:
        raise ValueError(f"gap_px must be (low, high) with 0 <= low < high, got {gap_px!r}")
    if not min_length_px > 0 or not smooth_px >= 0:
        raise ValueError(f"min_length_px must be > 0 and smooth_px >= 0, got {min_length_px!r} and {smooth_px!r}")
    if labels is not None and (len(labels) != 2 or not all(isinstance(x, str) and x for x in labels)):
        raise ValueError(f"labels must be None or two non-empty names, e.g. ('d1', 'd2'), got {labels!r}")
    images = image_stack(images, channel, "images")
    lead = leading_dims(images)
    lead_shape = [images.sizes[d] for d in lead]
    values = np.asarray(images.values, float).reshape((-1, images.sizes["y"], images.sizes["x"]))
    sign = 1.0 if polarity == "bright" else -1.0
    found = [_slits_between(_bars(sign * v, min_length_px, smooth_px), (low, high), labels) for v in values]
    n_slot = max(1, max(len(f) for f in found))
    table = np.full((len(found), n_slot, 4), np.nan)
    names = np.full((len(found), n_slot), "", dtype=object)
    for i, slits in enumerate(found):
        for s, (row, col, angle, gap, name) in enumerate(slits):
            table[i, s] = row, col, angle, gap
            names[i, s] = name
    table = table.reshape(lead_shape + [n_slot, 4])
    dims = (*lead, "slit")
    px = {"units": "px"}
    return xr.Dataset(
        {
            "slit_row_px": (dims, table[..., 0], {**px, "long_name": "located slit centre row"}),
            "slit_col_px": (dims, table[..., 1], {**px, "long_name": "located slit centre column"}),
            "slit_angle_deg": (dims, table[..., 2], {"units": "degree", "long_name": "slit axis from the y axis"}),
            "slit_gap_px": (dims, table[..., 3], {**px, "long_name": "gap between the bounding bars' ellipses"}),
            "slit_label": (dims, names.reshape(lead_shape + [n_slot]).astype(str), {"long_name": "slit name"}),
            "n_slits": (lead, np.array([len(f) for f in found]).reshape(lead_shape), {"units": "1"}),
        },
        coords=leading_coords(images),
        attrs={
            "method": "gaps between elongated Otsu-dark regions of the smoothed phase",
            "gap_px": [low, high],
            "min_length_px": float(min_length_px),
            "smooth_px": float(smooth_px),
            "polarity": polarity,
            **provenance_attrs(),
        },
    )


def _slit_table(slits: xr.Dataset, lead: dict[str, int]) -> tuple[xr.Dataset, bool]:
    """The slits as given over ``slit`` alone (a reference's) or over the images' leading dims too.

    A reference's slots without a centre are dropped (the twin's padded table); per-image
    slots without one are kept and measured as missing.
    """
    missing = [v for v in _SLIT_VARS if v not in slits]
    if missing:
        raise ValueError(
            f"slits lacks {missing}; pass a Dataset over 'slit' with slit_row_px, slit_col_px (and optionally "
            "slit_angle_deg, slit_label), e.g. the twin's truth of the reference ds.isel(frame=0), or "
            "locate_slits(images)"
        )
    names = [v for v in (*_SLIT_VARS, "slit_angle_deg", "slit_label", "slit_id") if v in slits]
    table = slits[names]
    dims = {v: table[v].dims for v in names}
    if all(d == ("slit",) for d in dims.values()):
        keep = np.isfinite(table.slit_row_px.values) & np.isfinite(table.slit_col_px.values)
        if not keep.any():
            raise ValueError("slits holds no slit with a finite centre (slit_row_px, slit_col_px)")
        table = table.isel(slit=np.flatnonzero(keep))
        per_image = False
    elif all(set(d) == {"slit", *lead} for d in dims.values()) and all(table.sizes[d] == n for d, n in lead.items()):
        table = table.transpose(*lead, "slit")
        per_image = True
    else:
        raise ValueError(
            f"slit variables must have dims ('slit',) (one reference's slits, e.g. ds.isel(frame=0)) or the images' "
            f"leading dims {tuple(lead)} and 'slit' with the images' sizes (one set per image, e.g. "
            f"locate_slits(images)); got {dims}"
        )
    if "slit_angle_deg" not in table:
        table["slit_angle_deg"] = (table.slit_row_px.dims, np.zeros(table.slit_row_px.shape))
    return table, per_image


def track_slit_widths(
    images: xr.DataArray,
    slits: xr.Dataset,
    *,
    length_px: float,
    width_px: float,
    motion: xr.Dataset | None = None,
    channel: str | None = None,
    percentiles: tuple[float, float] = (5.0, 95.0),
    polarity: str = "bright",
) -> xr.Dataset:
    """Slit widths across a stack of images: slits located per image, or followed from a reference.

    ``slits`` is either one set per image (:func:`locate_slits` of these images, or a
    twin's truth ``ds``), measured where it is; or the slits of a reference over ``slit``
    alone, which each image's matched motion (from :func:`match_rigid` against that
    reference) moves and turns. :func:`~matdyn_nb.descriptors.measure_slit_width` measures
    each slit: one profile per pixel along it, width between the 50 % crossings (twins.md
    §1.8).

    Parameters
    ----------
    images
        Phase images ``(..., [channel,] y, x)`` with physical spatial coords (widths are in
        their units; in px without coords).
    slits
        ``slit_row_px``, ``slit_col_px`` (centre, px), optionally ``slit_angle_deg`` (long
        axis from the y axis, counter-clockwise as displayed; default 0), ``slit_label`` and
        ``slit_id``; over ``slit`` (a reference's; slots without a centre are dropped) or
        over the images' leading dims and ``slit`` (one set per image; slots without a
        centre give no width).
    length_px
        Length along each slit over which profiles are taken (one per pixel).
    width_px
        Length of each profile across the slit; it should span both pads.
    motion
        :func:`match_rigid`'s output for these images, over the same leading dims, to move a
        reference's slits; default none (the slits are measured where they are given).
    channel
        Channel name, when the images have several channels.
    percentiles, polarity
        As for :func:`~matdyn_nb.descriptors.measure_slit_width`.

    Returns
    -------
    xarray.Dataset
        Over ``(..., slit)``: ``width_mean`` and ``width_sd`` (over the profiles), ``n_rows``
        (profiles with a width, 0 for a missing slit), and the measured slit's
        ``center_row_px``, ``center_col_px`` and ``angle_deg``; ``width`` ``(..., slit, row)``
        per profile, to pool the spread over rows and images (the paper's 311 +- 13 nm).

    Examples
    --------
    >>> from matdyn_nb.twins import ta_chart
    >>> ds = ta_chart("crop64", rng=0, n_frames=8, n_rotations=0, x0_nm=1000.0)
    >>> res = track_slit_widths(ds.images, ds.isel(frame=0), length_px=24, width_px=22)
    >>> res.width_mean.dims
    ('frame', 'slit')
    """
    images = image_stack(images, channel, "images")
    lead = leading_dims(images)
    lead_sizes = {d: images.sizes[d] for d in lead}
    table, per_image = _slit_table(slits, lead_sizes)
    shape = (images.sizes["y"], images.sizes["x"])
    n_img = int(np.prod(list(lead_sizes.values())))
    n_slit = table.sizes["slit"]
    if motion is None:
        move = np.zeros((n_img, 3))
    elif per_image:
        raise ValueError("motion moves one reference's slits; slits given per image are measured where they are")
    else:
        missing = [v for v in MOTION_VARS if v not in motion]
        if missing:
            raise ValueError(f"motion lacks {missing}; pass match_rigid's output for these images")
        sizes = {d: motion.sizes[d] for d in motion["rotation"].dims}
        if sizes != lead_sizes:
            raise ValueError(
                f"motion is over {sizes} but the images' leading dims are {lead_sizes}; "
                "pass match_rigid's output for these images"
            )
        move = np.stack([motion[v].transpose(*lead).values.ravel() for v in MOTION_VARS], axis=-1)
    sizes = pixel_sizes(images)
    units = images["x"].attrs.get("units", "px")
    centre = np.array([(shape[0] - 1) / 2, (shape[1] - 1) / 2])
    given = np.stack([table.slit_row_px.values, table.slit_col_px.values], axis=-1).reshape(-1, n_slit, 2)
    given_angle = table.slit_angle_deg.values.reshape(-1, n_slit)
    values = np.asarray(images.values, float).reshape((n_img,) + shape)
    rows = np.arange(-(length_px // 2), length_px - length_px // 2)
    widths = np.full((n_img, n_slit, rows.size), np.nan)
    stats = np.full((n_img, n_slit, 6), np.nan)
    for i, (dy, dx, turn) in enumerate(move):
        a = np.deg2rad(turn)
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        k = i if per_image else 0
        points = centre + (given[k] - centre) @ rot.T + [dy, dx]
        angles = given_angle[k] + turn
        for s in range(n_slit):
            if not np.all(np.isfinite(points[s])):
                stats[i, s, 2] = 0
                continue
            res = measure_slit_width(
                values[i],
                tuple(points[s]),
                length_px=length_px,
                width_px=width_px,
                angle_deg=angles[s],
                pixel_size=(sizes["y"], sizes["x"]),
                percentiles=percentiles,
                polarity=polarity,
            )
            widths[i, s] = res.width.values
            stats[i, s] = res.width_mean, res.width_sd, res.n_rows, points[s, 0], points[s, 1], angles[s]
    lead_shape = list(lead_sizes.values())
    dims = (*lead, "slit")
    stats = stats.reshape(lead_shape + [n_slit, 6])
    label = {"units": units}
    coords = {**leading_coords(images), **{v: table[v] for v in ("slit_label", "slit_id") if v in table}}
    return xr.Dataset(
        {
            "width": (
                (*dims, "row"),
                widths.reshape(lead_shape + [n_slit, rows.size]),
                {**label, "long_name": "slit width per profile"},
            ),
            "width_mean": (dims, stats[..., 0], {**label, "long_name": "mean slit width over the profiles"}),
            "width_sd": (dims, stats[..., 1], {**label, "long_name": "SD of the slit width over the profiles"}),
            "n_rows": (dims, stats[..., 2].astype(int), {"units": "1", "long_name": "profiles with a width"}),
            "center_row_px": (dims, stats[..., 3], {"units": "px", "long_name": "measured slit centre row"}),
            "center_col_px": (dims, stats[..., 4], {"units": "px", "long_name": "measured slit centre column"}),
            "angle_deg": (dims, stats[..., 5], {"units": "degree", "long_name": "measured slit axis angle"}),
        },
        coords={**coords, "row": ("row", rows, {"units": "px", "long_name": "position along the slit"})},
        attrs={
            "method": "measure_slit_width at slits given per image, or at a reference's slits moved by the "
            "matched motion (twins.md §1.8)",
            "length_px": float(length_px),
            "width_px": float(width_px),
            "moved": int(motion is not None),
            "per_image": int(per_image),
            **provenance_attrs(),
        },
    )
