from ui.views import admin

admin.accounts_page()
