from ui.views import signin

signin.page()
