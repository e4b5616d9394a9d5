from ui.views import annotator

annotator.label_page()
