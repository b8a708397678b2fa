"""Interface language per user (Russian by default): a small message table, not a framework."""

from __future__ import annotations

from flask import current_app, g

MESSAGES: dict[str, dict[str, str]] = {
    "Tasks": {"ru": "Задачи"},
    "Requests": {"ru": "Обращения"},
    "Processes": {"ru": "Процессы"},
    "Log in": {"ru": "Войти"},
    "Log out": {"ru": "Выйти"},
    "User name": {"ru": "Логин"},
    "Password": {"ru": "Пароль"},
    "My tasks": {"ru": "Мои задачи"},
    "My groups": {"ru": "Задачи моих групп"},
    "All tasks": {"ru": "Все задачи"},
    "Task": {"ru": "Задача"},
    "Process": {"ru": "Процесс"},
    "Assignee": {"ru": "Исполнитель"},
    "Groups": {"ru": "Группы"},
    "Due": {"ru": "Срок"},
    "Priority": {"ru": "Приоритет"},
    "Created": {"ru": "Создана"},
    "Claim": {"ru": "Взять"},
    "Unclaim": {"ru": "Вернуть"},
    "Complete": {"ru": "Завершить"},
    "Approve": {"ru": "Согласовать"},
    "Reject": {"ru": "Отклонить"},
    "No tasks": {"ru": "Задач нет"},
    "Number": {"ru": "Номер"},
    "Subject": {"ru": "Тема"},
    "Status": {"ru": "Статус"},
    "Category": {"ru": "Категория"},
    "Resolve by": {"ru": "Решить до"},
    "History": {"ru": "История"},
    "Variables": {"ru": "Переменные"},
    "Diagram": {"ru": "Схема"},
    "working hours left": {"ru": "рабочих ч осталось"},
    "overdue": {"ru": "просрочено"},
    "Search": {"ru": "Найти"},
    "Pickup": {"ru": "Взятие в работу"},
    "Processing time": {"ru": "Время обработки"},
    "Time in status": {"ru": "Время в статусах"},
    "Notifications": {"ru": "Уведомления"},
    "Incidents": {"ru": "Инциденты"},
    "Retry": {"ru": "Повторить"},
    "Definitions": {"ru": "Определения процессов"},
    "Instances": {"ru": "Экземпляры"},
    "Version": {"ru": "Версия"},
    "Running": {"ru": "Выполняются"},
    "Language": {"ru": "Язык"},
    "Reports": {"ru": "Отчёты"},
    "Too many failed logins; wait a few minutes.": {
        "ru": "Слишком много неудачных попыток; подождите несколько минут."
    },
    "Wrong user name or password.": {"ru": "Неверный логин или пароль."},
    "Logged out.": {"ru": "Вы вышли."},
    "Task completed.": {"ru": "Задача завершена."},
    "Someone else completed this task first; reload the list.": {
        "ru": "Эту задачу уже завершил кто-то другой; обновите список."
    },
}


def language() -> str:
    user = getattr(g, "user", None)
    if user is not None and getattr(user, "language", None):
        return user.language
    return current_app.config.get("DEFAULT_LANGUAGE", "ru")


def translate(text: str) -> str:
    lang = language()
    if lang == "en":
        return text
    return MESSAGES.get(text, {}).get(lang, text)
