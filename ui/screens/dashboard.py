from ui.views import requester

requester.dashboard_page()
