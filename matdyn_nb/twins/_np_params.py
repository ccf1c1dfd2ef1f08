"""Parameters and presets of the nanoparticle twin (twins.md §2.2-2.3, §2.6-2.7)."""

from ._params import bool_problems, check_names, chunk_problems, finite_problems, sign_problems, to_integers

__all__ = ["NP_PRESETS"]

# Defaults of twins.md §2.2-2.3 (lengths nm, times s, phases rad, densities per um^2).
_DEFAULTS = {
    "size": 64,  # square field of view (px)
    "pixel_size": 40.58,  # nm (Table 1)
    "n_frames": 400,
    "frame_interval": 1.0,  # s, = exposure
    "dt": 0.01,  # Langevin step (s)
    "n_subrenders": 20,  # motion-blur renders per exposure
    "supersample": 4,
    "domain": 8000.0,  # side of the square simulation domain, centred on the view (nm)
    "illumination": "triangle",  # "triangle" (probe support) or "uniform" (S = 1: crops)
    "support_side": 5000.0,  # nm (thesis B.1)
    "corner_radius": 250.0,  # nm
    "edge_sigma_px": 1.5,
    "density": 4.6,  # mobile particles per um^2
    "diameter_mean": 150.0,  # nm
    "diameter_sd": 15.0,  # nm
    "min_diameter_px": 0.0,  # floor on diameters (px)
    "phase_amplitude": 0.4,  # central phase of a 150 nm sphere (rad); scales with d; drawn negative
    "psf_sigma_px": 0.85,
    "n_bands": 3,
    "band_width": 400.0,  # nm
    "band_area_fraction": 0.3,  # target band share of the view region (None: first layout drawn)
    "layout_tries": 64,  # layouts drawn to meet band_area_fraction
    "velocity": 200.0,  # nm/s (thesis XPCS)
    "d_channel": 1000.0,  # nm^2/s
    "d_free": 8150.0,  # nm^2/s, microscopic (the paper preset raises it: see Notes)
    "n_traps": 15,
    "capture_radius": 120.0,  # nm
    "tau_trap": 0.2,  # s
    "d_trap": 8150.0,  # nm^2/s
    "escape_rate": 0.005,  # 1/s
    "trap_clearance": 100.0,  # extra gap between traps, bands and other traps (nm)
    "noise_sigma": 0.04,  # white noise SD inside the support (rad)
    "noise_jitter": 0.09,  # SD s of the log noise level per frame (sets the consecutive-frame entropy change)
    "noise_sigma_outside": 0.05,  # rad
    "background_sigma": 0.03,  # rad
    "background_corr_px": 15.0,
    "background_rho": 0.99,  # AR(1) coefficient per frame
    "background_spacing_px": 4,  # lattice of the background noise
    "mask_threshold": 0.02,  # clean particle phase below -this is the particle channel (rad)
    "mask_dilation_px": 2,
    "high_contrast": False,  # twins.md §2.6 preset of better separated modes
    "chunk_frames": None,  # frames per dask chunk; None builds numpy arrays at once
}

_HIGH_CONTRAST = {
    "velocity": 300.0,
    "d_channel": 500.0,
    "d_free": 5700.0,
    "d_trap": 5700.0,
    "tau_trap": 0.1,
    "band_area_fraction": 0.18,
}

NP_PRESETS = {
    "paper": {"size": 142, "n_frames": 2000, "chunk_frames": 50, "d_free": 9400.0, "noise_jitter": 0.065},
    "crop64": {
        "size": 64,
        "n_frames": 400,
        "domain": 4000.0,
        "illumination": "uniform",
        "n_bands": 1,
        "n_traps": 3,
        "band_area_fraction": 0.15,
    },
    "smoke32": {
        "size": 32,
        "n_frames": 60,
        "domain": 2300.0,
        "illumination": "uniform",
        "n_bands": 1,
        "n_traps": 1,
        "band_area_fraction": 0.3,
        "min_diameter_px": 3.0,
    },
}
NP_PRESETS["small"] = NP_PRESETS["crop64"]  # the CPU-size case study (twins.md §2.7)

_INTS = (
    "size",
    "n_frames",
    "n_subrenders",
    "supersample",
    "n_bands",
    "layout_tries",
    "n_traps",
    "background_spacing_px",
    "mask_dilation_px",
)


def _resolve(preset: str, overrides: dict) -> dict:
    check_names("nanoparticles", preset, NP_PRESETS, _DEFAULTS, overrides)
    asked = {**_DEFAULTS, **NP_PRESETS[preset], **overrides}
    problems = finite_problems(asked) + bool_problems(asked, ["high_contrast"])
    if problems:  # before the checks that compare numbers (a NaN passes them) and the preset a string would turn on
        raise ValueError("bad nanoparticles parameters: " + "; ".join(problems))
    p = {**asked, **(_HIGH_CONTRAST if asked["high_contrast"] else {}), **overrides}
    to_integers(p, _INTS)
    p["high_contrast"] = bool(p["high_contrast"])  # numpy's bool is no JSON
    _check(p)
    return p


def _check(p: dict) -> None:
    problems = []
    steps = p["frame_interval"] / p["dt"] if p["dt"] > 0 else 0
    if p["size"] < 16:
        problems.append("size must be >= 16 px")
    if p["n_frames"] < 2:
        problems.append("n_frames must be >= 2")
    if p["dt"] <= 0 or abs(steps - round(steps)) > 1e-6 or round(steps) < 2:
        problems.append("frame_interval must be a multiple (>= 2) of dt")
    elif not 1 <= p["n_subrenders"] <= round(steps):
        problems.append("n_subrenders must lie between 1 and frame_interval / dt")
    if p["domain"] < p["size"] * p["pixel_size"] + 2 * p["band_width"]:
        problems.append("domain must exceed the field of view (size * pixel_size) by 2 band widths")
    if p["illumination"] not in ("triangle", "uniform"):
        problems.append("illumination must be 'triangle' or 'uniform'")
    positive = (
        "pixel_size",
        "frame_interval",
        "supersample",
        "density",
        "diameter_mean",
        "band_width",
        "d_free",
        "d_channel",
        "d_trap",
        "tau_trap",
        "capture_radius",
        "support_side",
        "background_corr_px",
        "background_spacing_px",
    )
    non_negative = (
        "diameter_sd",
        "min_diameter_px",
        "phase_amplitude",
        "psf_sigma_px",
        "velocity",
        "n_bands",
        "n_traps",
        "escape_rate",
        "trap_clearance",
        "noise_sigma",
        "noise_jitter",
        "noise_sigma_outside",
        "background_sigma",
        "mask_threshold",
        "mask_dilation_px",
        "corner_radius",
        "edge_sigma_px",
    )
    problems += sign_problems(p, positive, non_negative)
    if p["layout_tries"] < 1:
        problems.append("layout_tries must be >= 1")
    frac = p["band_area_fraction"]
    if frac is not None and not 0 < frac < 1:
        problems.append("band_area_fraction must be None or lie in (0, 1)")
    if not 0 <= p["background_rho"] < 1:
        problems.append("background_rho must lie in [0, 1)")
    problems += chunk_problems(p, "chunk_frames")
    if problems:
        raise ValueError("bad nanoparticles parameters: " + "; ".join(problems))
