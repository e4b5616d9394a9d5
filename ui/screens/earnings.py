from ui.views import annotator

annotator.earnings_page()
