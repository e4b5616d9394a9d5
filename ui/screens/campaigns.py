from ui.views import requester

requester.campaigns_page()
