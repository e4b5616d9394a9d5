from ui.views import quality

quality.page()
