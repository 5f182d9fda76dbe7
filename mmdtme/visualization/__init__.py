from .angle_plots import plot_angle_histograms
from .dtme_plots import plot_conflict_scores, plot_eigenvalue_spectra, save_analysis_plots
from .multi_task_visualizer import MultiTaskLocalVisualizer, default_palette
from .recon_plots import plot_recon_scores

__all__ = [
    'plot_angle_histograms', 'MultiTaskLocalVisualizer', 'default_palette', 'plot_conflict_scores',
    'plot_eigenvalue_spectra', 'save_analysis_plots', 'plot_recon_scores'
]
