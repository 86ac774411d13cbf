"""Stage 4, figures: every plot, drawn from graphs and saved runs."""
