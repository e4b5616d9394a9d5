from ui.views import lab

lab.page()
