"""The message table: every message id (the English text) with its Russian translation.

The pages' base words live here; each feature's block is in web.i18n_features and is merged in
with a check, so two parts of the product cannot translate one id two ways without an error.
"""

from __future__ import annotations

from web.i18n_features import (
    ABSENCES,
    ADMIN,
    AUTHORIZATION,
    CSV_HEADERS,
    FIELD_SERVICE,
    LEGACY_IMPORT,
    NOTIFICATIONS,
    PROCESS_ADMIN,
    PUBLIC_FORM,
    WITH_VALUES,
)

BASE: dict[str, dict[str, str]] = {
    "Tasks": {"ru": "Задачи"},
    "Retention": {"ru": "Хранение данных"},
    "History cleanup": {"ru": "Очистка истории"},
    "idle": {"ru": "ожидает"},
    "cleanup in progress": {"ru": "выполняется"},
    "Due now": {"ru": "К удалению сейчас"},
    "Last run": {"ru": "Последний запуск"},
    "Removed in the last run": {"ru": "Удалено за последний запуск"},
    "instances / rows": {"ru": "экземпляров / строк"},
    "batches": {"ru": "пакетов"},
    "longest": {"ru": "самый долгий"},
    "Batch window": {"ru": "Окно очистки"},
    "now": {"ru": "сейчас"},
    "Default time to live": {"ru": "Срок хранения по умолчанию"},
    "days": {"ru": "дн."},
    "history kept": {"ru": "история хранится"},
    "for ever": {"ru": "бессрочно"},
    "from the diagram": {"ru": "из схемы"},
    "the default": {"ru": "по умолчанию"},
    "Error": {"ru": "Ошибка"},
    "Run history cleanup now": {"ru": "Очистить историю сейчас"},
    "Erase a contact's personal data": {"ru": "Удалить персональные данные контакта"},
    "Requests keep their facts for reports; e-mails, calls, notifications and process history lose "
    "the person's data. Refused while a request of the contact is open.": {
        "ru": "Обращения сохраняют факты для отчётов; письма, звонки, уведомления и история процессов "
        "теряют данные человека. Невозможно, пока у контакта есть открытые обращения."
    },
    "Contact id": {"ru": "Номер контакта"},
    "Erase": {"ru": "Удалить"},
    "Erased by": {"ru": "Кто удалил"},
    "Rows changed": {"ru": "Изменено строк"},
    "No erasures yet.": {"ru": "Удалений ещё не было."},
    "History cleanup removed %(instances)s instance(s), %(rows)s row(s); %(left)s due left.": {
        "ru": "Очистка истории удалила экземпляров: %(instances)s, строк: %(rows)s; "
        "осталось к удалению: %(left)s."
    },
    "Enter the contact's number (its id), e.g. 42.": {"ru": "Введите номер контакта (id), например 42."},
    "Contact %s erased.": {"ru": "Данные контакта %s удалены."},
    "Process detail expired": {"ru": "Подробности процесса удалены по сроку хранения"},
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
    "Service desk": {"ru": "Служба поддержки"},
    "phone call or walk-in": {"ru": "звонок или личный визит"},
    "Find the caller": {"ru": "Найти клиента"},
    "phone, e-mail or name": {"ru": "телефон, e-mail или имя"},
    "Register the request": {"ru": "Зарегистрировать обращение"},
    "Write what the caller needs: a subject or a description.": {
        "ru": "Запишите, что нужно клиенту: тему или описание."
    },
    "Choose how the request came in.": {"ru": "Выберите, как поступило обращение."},
    "Choose a priority.": {"ru": "Выберите приоритет."},
    "Give the caller's phone or e-mail, so the desk can answer them.": {
        "ru": "Укажите телефон или e-mail клиента, чтобы ему можно было ответить."
    },
    "Times are shown in this zone": {"ru": "Время на страницах указано в этом поясе"},
    "Moscow": {"ru": "Москва"},
    "Too many failed logins; wait a few minutes.": {
        "ru": "Слишком много неудачных попыток; подождите несколько минут."
    },
    "Wrong user name or password.": {"ru": "Неверный логин или пароль."},
    "Logged out.": {"ru": "Вы вышли."},
    "Task completed.": {"ru": "Задача завершена."},
    "Someone else completed this task first; reload the list.": {
        "ru": "Эту задачу уже завершил кто-то другой; обновите список."
    },
    # -- tasks, requests, reports, admin (web UI capability)
    "completed by": {"ru": "завершил(а)"},
    "This task was taken by": {"ru": "Эту задачу уже взял(а)"},
    "No such task; it may have been cancelled. Reload the task list.": {
        "ru": "Такой задачи нет; возможно, она отменена. Обновите список задач."
    },
    "This task is not assigned or offered to you or your groups.": {
        "ru": "Эта задача не назначена и не предложена вам или вашим группам."
    },
    "This task is not assigned to you; claim it or ask its assignee.": {
        "ru": "Задача назначена не вам; возьмите её или обратитесь к исполнителю."
    },
    "Only the users and groups a task is offered to may claim it.": {
        "ru": "Взять задачу могут только те, кому она предложена."
    },
    "Only the assignee or a manager may return a task to its group.": {
        "ru": "Вернуть задачу в группу может только исполнитель или руководитель."
    },
    "Only the assignee or a manager may delegate a task.": {
        "ru": "Передать задачу может только исполнитель или руководитель."
    },
    "Task returned to the group.": {"ru": "Задача возвращена в группу."},
    "Task delegated to": {"ru": "Задача передана"},
    "Choose someone from the list: only active members of the task's group may take it.": {
        "ru": "Выберите человека из списка: задачу может взять только активный участник её группы."
    },
    "choose a person": {"ru": "выберите исполнителя"},
    "suggested": {"ru": "предложен маршрутом"},
    "open tasks": {"ru": "открытых задач"},
    "No active user": {"ru": "Нет активного пользователя"},
    "Choose Approve or Reject.": {"ru": "Выберите «Согласовать» или «Отклонить»."},
    "A comment is required to reject.": {"ru": "Чтобы отклонить, напишите комментарий."},
    "This field is required.": {"ru": "Заполните это поле."},
    "Comment": {"ru": "Комментарий"},
    "Delegate": {"ru": "Передать"},
    "Delegate to": {"ru": "Передать"},
    "left": {"ru": "осталось"},
    "overdue by": {"ru": "просрочено на"},
    "working": {"ru": "рабочих"},
    "h": {"ru": "ч"},
    "d": {"ru": "дн"},
    "Time at each step": {"ru": "Время на каждом шаге"},
    "tasks": {"ru": "задач"},
    "average": {"ru": "в среднем"},
    "min": {"ru": "мин"},
    "Filters": {"ru": "Фильтры"},
    "any process": {"ru": "любой процесс"},
    "Priority at least": {"ru": "Приоритет от"},
    "Due by": {"ru": "Срок до"},
    "Created from": {"ru": "Создана с"},
    "Reset": {"ru": "Сбросить"},
    "Previous": {"ru": "Назад"},
    "Next": {"ru": "Вперёд"},
    "Page": {"ru": "Страница"},
    "of": {"ru": "из"},
    "Request": {"ru": "Обращение"},
    "Messages": {"ru": "Переписка"},
    "incoming": {"ru": "входящее"},
    "outgoing": {"ru": "исходящее"},
    "No messages": {"ru": "Писем нет"},
    "Status history": {"ru": "История статусов"},
    "Time in stage": {"ru": "Время в этапе"},
    "working min": {"ru": "рабочих мин"},
    "wall": {"ru": "календарных"},
    "wall min": {"ru": "календарных мин"},
    "Open tasks": {"ru": "Открытые задачи"},
    "Desk tasks": {"ru": "Задачи по обращению"},
    "Where it stands": {"ru": "Где сейчас"},
    "any": {"ru": "любой"},
    "Text": {"ru": "Текст"},
    "Executor": {"ru": "Исполнитель"},
    "Channel": {"ru": "Канал"},
    "From": {"ru": "С"},
    "To": {"ru": "По"},
    "Group by": {"ru": "Группировать по"},
    "Download CSV": {"ru": "Скачать CSV"},
    "Requests done": {"ru": "Решено обращений"},
    "Average": {"ru": "В среднем"},
    "SLA breaches": {"ru": "Нарушения SLA"},
    "Late pickups": {"ru": "Поздние взятия в работу"},
    "Opened": {"ru": "Открыто"},
    "Closed": {"ru": "Закрыто"},
    "Backlog": {"ru": "Открытых на конец"},
    "Backlog over time": {"ru": "Открытые обращения по времени"},
    "SLA met": {"ru": "SLA соблюдён"},
    "Pickup ≤ 15 min": {"ru": "Взято в работу ≤ 15 мин"},
    "working h": {"ru": "рабочих ч"},
    "Opened and closed": {"ru": "Открыто и закрыто"},
    "Processing time in working hours": {"ru": "Время обработки в рабочих часах"},
    "Period": {"ru": "Период"},
    "day": {"ru": "день"},
    "week": {"ru": "неделя"},
    "Table": {"ru": "Таблица"},
    "requests done": {"ru": "решённых обращений"},
    "open at the end of the range": {"ru": "открыто на конец периода"},
    "Administration": {"ru": "Администрирование"},
    "Access denied": {"ru": "Доступ запрещён"},
    "Not found": {"ru": "Не найдено"},
    "Conflict": {"ru": "Конфликт"},
    "Bad request": {"ru": "Неверный запрос"},
    "Back to tasks": {"ru": "К списку задач"},
    "Users": {"ru": "Пользователи"},
    "Name": {"ru": "Имя"},
    "Roles": {"ru": "Роли"},
    "Group": {"ru": "Группа"},
    "Title": {"ru": "Название"},
    "Members": {"ru": "Участники"},
    "Dictionary": {"ru": "Словарь"},
    "Calendars": {"ru": "Календари"},
    "Calendar": {"ru": "Календарь"},
    "Notification texts": {"ru": "Тексты уведомлений"},
    "API tokens": {"ru": "API-токены"},
    "Outbox": {"ru": "Исходящие"},
    "Queues": {"ru": "Очереди"},
    "Queues and workers": {"ru": "Очереди и обработчики"},
    "Redis is not configured: service tasks run in-process (embedded mode).": {
        "ru": "Redis не настроен: сервисные задачи выполняются в процессе приложения (встроенный режим)."
    },
    "Jobs": {"ru": "Задания"},
    "Pending": {"ru": "Ожидают"},
    "Failed": {"ru": "С ошибкой"},
    "Overdue": {"ru": "Просрочены"},
    "Open incidents": {"ru": "Открытые инциденты"},
    "Queue": {"ru": "Очередь"},
    "Queued": {"ru": "В очереди"},
    "Workers": {"ru": "Обработчики"},
    "Worker": {"ru": "Обработчик"},
    "alive": {"ru": "живы"},
    "dead": {"ru": "не отвечает"},
    "Host": {"ru": "Хост"},
    "State": {"ru": "Состояние"},
    "Heartbeat": {"ru": "Пульс"},
    "Last job": {"ru": "Последнее задание"},
    "Jobs done / failed": {"ru": "Выполнено / с ошибкой"},
    "No worker is registered.": {"ru": "Нет зарегистрированных обработчиков."},
    "Active scheduler": {"ru": "Активный планировщик"},
    "none": {"ru": "нет"},
    "Import": {"ru": "Импорт"},
    "Create": {"ru": "Создать"},
    "Save": {"ru": "Сохранить"},
    "Delete": {"ru": "Удалить"},
    "Activate": {"ru": "Включить"},
    "Deactivate": {"ru": "Отключить"},
    "Active": {"ru": "Активен"},
    "deactivated": {"ru": "отключён"},
    "Phone": {"ru": "Телефон"},
    "Extension": {"ru": "Внутренний номер"},
    "New user": {"ru": "Новый пользователь"},
    "New group": {"ru": "Новая группа"},
    "New groups": {"ru": "Новые группы"},
    "Reset password": {"ru": "Сменить пароль"},
    "New password": {"ru": "Новый пароль"},
    "Repeat": {"ru": "Повторите"},
    "Set password": {"ru": "Установить пароль"},
    "roles, groups, passwords": {"ru": "роли, группы, пароли"},
    "candidate groups of tasks": {"ru": "группы исполнителей задач"},
    "classification keywords and weights": {"ru": "ключевые слова и веса классификатора"},
    "working hours, holidays": {"ru": "рабочие часы, праздники"},
    "resolve-within per category": {"ru": "сроки решения по категориям"},
    "Try a text": {"ru": "Проверить текст"},
    "Classify": {"ru": "Классифицировать"},
    "Score": {"ru": "Баллы"},
    "unclassified": {"ru": "не определена"},
    "New category": {"ru": "Новая категория"},
    "One keyword or phrase per line: keyword = weight. Negative weights argue against the category; "
    "an empty text removes it.": {
        "ru": "По одному слову или фразе в строке: слово = вес. Отрицательный вес говорит против "
        "категории; пустой текст удаляет категорию."
    },
    "Time zone": {"ru": "Часовой пояс"},
    "Holidays of": {"ru": "Праздники страны"},
    "Working hours": {"ru": "Рабочие часы"},
    "Extra holidays": {"ru": "Дополнительные выходные"},
    "Extra working days": {"ru": "Дополнительные рабочие дни"},
    "Hours of a transferred working day as on": {"ru": "Часы перенесённого рабочего дня как в"},
    "Preview": {"ru": "Предпросмотр"},
    "Next 30 days": {"ru": "Ближайшие 30 дней"},
    "New calendar": {"ru": "Новый календарь"},
    "A new calendar starts as a copy of support.": {"ru": "Новый календарь создаётся как копия support."},
    "shipped default": {"ru": "по умолчанию"},
    "SLA policies": {"ru": "Политики SLA"},
    "Resolve within": {"ru": "Решить за"},
    "New policy": {"ru": "Новая политика"},
    "Template": {"ru": "Шаблон"},
    "edited": {"ru": "изменён"},
    "Shipped text": {"ru": "Исходный текст"},
    "Restore shipped text": {"ru": "Вернуть исходный текст"},
    "Copy the token now; it is shown only once and stored only as a hash.": {
        "ru": "Скопируйте токен сейчас: он показывается один раз и хранится только в виде хэша."
    },
    "User": {"ru": "Пользователь"},
    "Acts as user": {"ru": "Действует от имени"},
    "New token": {"ru": "Новый токен"},
    "Revoke": {"ru": "Отозвать"},
    "User %s created.": {"ru": "Пользователь %s создан."},
    "User %s saved.": {"ru": "Пользователь %s сохранён."},
    "Password of %s changed.": {"ru": "Пароль пользователя %s изменён."},
    "Group %s saved.": {"ru": "Группа %s сохранена."},
    "Calendar %s saved.": {"ru": "Календарь %s сохранён."},
    "SLA policy removed; the default applies again.": {
        "ru": "Политика SLA удалена; снова действует политика по умолчанию."
    },
    "Token %s revoked.": {"ru": "Токен %s отозван."},
    "revoked": {"ru": "отозван"},
}


MESSAGES: dict[str, dict[str, str]] = dict(BASE)


class MessageConflictError(ValueError):
    """Two parts of the catalogue translate one message id differently (one would silently win)."""

    def __init__(self, text: str, old: str, new: str) -> None:
        self.text = text
        super().__init__(
            f"Message {text!r} is translated both {old!r} and {new!r}; give one of the uses its own "
            f"message id (e.g. 'Product name')."
        )


def _extend(block: dict[str, dict[str, str]]) -> None:
    """Add a block of messages; the same id may repeat only with the same translation."""
    for text, translations in block.items():
        old = MESSAGES.get(text)
        if old is not None and old != translations:
            raise MessageConflictError(text, old.get("ru", ""), translations.get("ru", ""))
        MESSAGES[text] = translations


for _block in (
    PUBLIC_FORM,
    ADMIN,
    NOTIFICATIONS,
    PROCESS_ADMIN,
    LEGACY_IMPORT,
    FIELD_SERVICE,
    AUTHORIZATION,
    CSV_HEADERS,
    ABSENCES,
    WITH_VALUES,
):
    _extend(_block)
