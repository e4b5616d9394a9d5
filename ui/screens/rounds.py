from ui.views import annotator

annotator.rounds_page()
