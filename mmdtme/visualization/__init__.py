from .dtme_plots import plot_conflict_scores, plot_eigenvalue_spectra, save_analysis_plots

__all__ = ['plot_conflict_scores', 'plot_eigenvalue_spectra', 'save_analysis_plots']
