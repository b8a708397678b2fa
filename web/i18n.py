"""Interface language per user (Russian by default): a small message table, not a framework."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app, g

from desk.calendar import DEFAULT_CALENDARS

# Times on pages are shown in the desk's own zone (that of its `support` calendar), not in UTC.
DISPLAY_ZONE = ZoneInfo(DEFAULT_CALENDARS["support"].tz)

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
    "revoked": {"ru": "отозван"},
}

# Public request form (web/views/public_form.py, templates/request_new.html, request_thanks.html)
MESSAGES.update(
    {
        "New request": {"ru": "Новое обращение"},
        "Describe what happened; we will reply by e-mail or phone.": {
            "ru": "Опишите, что случилось; мы ответим по e-mail или телефону."
        },
        "Your name": {"ru": "Ваше имя"},
        "E-mail": {"ru": "E-mail"},
        "Phone": {"ru": "Телефон"},
        "Request type": {"ru": "Тип обращения"},
        "Description": {"ru": "Описание"},
        "Attachments": {"ru": "Вложения"},
        "Up to %(files)s files, %(kb)s KB each.": {"ru": "До %(files)s файлов, не больше %(kb)s КБ каждый."},
        "Leave this field empty": {"ru": "Оставьте это поле пустым"},
        "Send request": {"ru": "Отправить обращение"},
        "Something does not work": {"ru": "Что-то не работает"},
        "Service request": {"ru": "Запрос на обслуживание"},
        "Access or account": {"ru": "Доступ или учётная запись"},
        "Purchase": {"ru": "Закупка"},
        "Question or consultation": {"ru": "Вопрос или консультация"},
        "Please fill in this field.": {"ru": "Заполните это поле."},
        "Too long: at most %(limit)s characters.": {"ru": "Слишком длинно: не больше %(limit)s символов."},
        "Enter a valid e-mail address, e.g. name@example.com.": {
            "ru": "Введите правильный адрес e-mail, например name@example.com."
        },
        "Enter the full phone number with its area code, e.g. +7 916 123-45-67.": {
            "ru": "Введите полный номер телефона с кодом, например +7 916 123-45-67."
        },
        "Attach at most %(limit)s files.": {"ru": "Приложите не больше %(limit)s файлов."},
        "File %(name)s is larger than %(limit)s KB; attach a smaller one.": {
            "ru": "Файл %(name)s больше %(limit)s КБ; приложите файл поменьше."
        },
        "Too many requests from your address; please try again later or write to us by e-mail.": {
            "ru": "Слишком много обращений с вашего адреса; попробуйте позже или напишите нам на e-mail."
        },
        "Thank you": {"ru": "Спасибо"},
        "Thank you, your request is registered": {"ru": "Спасибо, ваше обращение зарегистрировано"},
        "Request number": {"ru": "Номер обращения"},
        "We have sent a confirmation to your e-mail. Please quote the number when you contact us.": {
            "ru": "Мы отправили подтверждение на ваш e-mail. Называйте этот номер, когда обращаетесь к нам."
        },
        "Send another request": {"ru": "Отправить ещё одно обращение"},
    }
)


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


def working_time_text(minutes: float) -> str:
    """Working time as people read it on a task list: "3 h 20 min left", "overdue by 1 h 5 min"."""
    hours, mins = divmod(round(abs(minutes)), 60)
    parts = ([f"{hours} {translate('h')}"] if hours else []) + (
        [f"{mins} {translate('min')}"] if mins or not hours else []
    )
    amount = " ".join(parts)
    return f"{translate('overdue by')} {amount}" if minutes < 0 else f"{amount} {translate('left')}"


def local_time(value: datetime | None, fmt: str = "%d.%m.%Y %H:%M") -> str:
    """A stored (UTC) moment in the desk's zone; empty for None."""
    if value is None:
        return ""
    return value.astimezone(DISPLAY_ZONE).strftime(fmt)


# Notifications out: inbox, channel settings, outbox admin, reply from the card (web/views/notifications.py,
# outbox_admin.py, requests.py)
MESSAGES.update(
    {
        "Outbox": {"ru": "Исходящие уведомления"},
        "Channel": {"ru": "Канал"},
        "Recipient": {"ru": "Получатель"},
        "Attempts": {"ru": "Попытки"},
        "Next attempt": {"ru": "Следующая попытка"},
        "Reason": {"ru": "Причина"},
        "Send again": {"ru": "Отправить снова"},
        "Nothing needs attention.": {"ru": "Всё доставлено."},
        "Notification #%s queued again.": {"ru": "Уведомление №%s поставлено в очередь снова."},
        "Unconfirmed: the sender stopped between sending and recording it, so the recipient may already "
        "have the message. Check before sending again; an e-mail is sent again with the same Message-ID.": {
            "ru": "Не подтверждено: отправитель остановился между отправкой и её записью, получатель "
            "мог уже получить сообщение. Проверьте, прежде чем отправлять снова; письмо уйдёт с тем же "
            "Message-ID."
        },
        "Notification settings": {"ru": "Настройки уведомлений"},
        "Notification settings saved.": {"ru": "Настройки уведомлений сохранены."},
        "My notifications": {"ru": "Мои уведомления"},
        "Event": {"ru": "Событие"},
        "in_app": {"ru": "В приложении"},
        "email": {"ru": "E-mail"},
        "sms": {"ru": "SMS"},
        "Unticking everything for an event means you are not told about it. An in-app notification left "
        "unread is also sent by e-mail once.": {
            "ru": "Если снять все отметки, о событии не сообщается. Непрочитанное уведомление в приложении "
            "один раз дублируется письмом."
        },
        "Save": {"ru": "Сохранить"},
        "Mark all read": {"ru": "Отметить все прочитанными"},
        "Read": {"ru": "Прочитано"},
        "A request is assigned to an executor": {"ru": "Обращению назначен исполнитель"},
        "A request is rejected": {"ru": "Обращение отклонено"},
        "A request is resolved": {"ru": "Обращение решено"},
        "A request is overdue": {"ru": "Обращение просрочено"},
        "A deal's owner changed": {"ru": "Сменился ответственный по сделке"},
        "Owner sync finished": {"ru": "Синхронизация ответственных завершена"},
        "Reply to": {"ru": "Ответ для"},
        "Send e-mail": {"ru": "Отправить письмо"},
        "Reply queued for sending.": {"ru": "Ответ поставлен в очередь на отправку."},
    }
)

# Process admin and migration (web/views/processes.py).
MESSAGES.update(
    {
        "Deploy": {"ru": "Развернуть"},
        "Deploy a process": {"ru": "Развернуть процесс"},
        "Deployed": {"ru": "Развёрнуто"},
        "Files (.bpmn and the .form files it uses)": {"ru": "Файлы (.bpmn и используемые им .form)"},
        "Deployment name": {"ru": "Название развёртывания"},
        "optional": {"ru": "необязательно"},
        "Deployment refused: nothing was stored": {"ru": "Развёртывание отклонено: ничего не сохранено"},
        "identical to what is deployed, no new version": {"ru": "совпадает с развёрнутым, новой версии нет"},
        "unchanged": {"ru": "без изменений"},
        "File": {"ru": "Файл"},
        "Element": {"ru": "Элемент"},
        "Line": {"ru": "Строка"},
        "Problem": {"ru": "Проблема"},
        "Warnings": {"ru": "Предупреждения"},
        "Finished": {"ru": "Завершены"},
        "Instance": {"ru": "Экземпляр"},
        "Started": {"ru": "Запущен"},
        "All processes": {"ru": "Все процессы"},
        "Any status": {"ru": "Любой статус"},
        "Start a process": {"ru": "Запустить процесс"},
        "Start": {"ru": "Запустить"},
        "Start instance": {"ru": "Запустить экземпляр"},
        "Business key": {"ru": "Бизнес-ключ"},
        "No process is deployed.": {"ru": "Нет развёрнутых процессов."},
        "Migrate instances": {"ru": "Миграция экземпляров"},
        "Where instances wait": {"ru": "Где ждут экземпляры"},
        "Active": {"ru": "Активных"},
        "No running instances.": {"ru": "Нет выполняющихся экземпляров."},
        "The diagram has no drawing (BPMN DI).": {"ru": "В схеме нет разметки (BPMN DI)."},
        "Cancel instance": {"ru": "Отменить экземпляр"},
        "Reason": {"ru": "Причина"},
        "Name": {"ru": "Имя"},
        "Value (JSON)": {"ru": "Значение (JSON)"},
        "Save variable": {"ru": "Сохранить переменную"},
        "Changes by people": {"ru": "Изменения вручную"},
        "When": {"ru": "Когда"},
        "Who": {"ru": "Кто"},
        "Old": {"ru": "Было"},
        "New": {"ru": "Стало"},
        "From version": {"ru": "С версии"},
        "To version": {"ru": "На версию"},
        "Renamed elements, one per line: old_id=new_id": {
            "ru": "Переименованные элементы, по одному в строке: старый_id=новый_id"
        },
        "Dry run": {"ru": "Пробный прогон"},
        "Migrate": {"ru": "Перенести"},
        "running": {"ru": "выполняются"},
        "instances": {"ru": "экземпляров"},
        "can migrate": {"ru": "можно перенести"},
        "cannot": {"ru": "нельзя"},
        "Elements without a place in the target": {"ru": "Элементы без соответствия в целевой версии"},
        "Instances that cannot migrate": {"ru": "Экземпляры, которые нельзя перенести"},
        "Batch": {"ru": "Пакет"},
        "migrated": {"ru": "перенесено"},
        "failed": {"ru": "ошибок"},
        "skipped": {"ru": "пропущено"},
        "of": {"ru": "из"},
    }
)

# Legacy import (admin page /admin/import)
MESSAGES.update(
    {
        "Legacy import": {"ru": "Импорт истории"},
        "Latest run": {"ru": "Последний прогон"},
        "rows/s": {"ru": "строк/с"},
        "finished": {"ru": "завершён"},
        "ETA": {"ru": "осталось"},
        "starting": {"ru": "запускается"},
        "stalled: no batch for 5 minutes; `import run` resumes it": {
            "ru": "остановлен: 5 минут без пакетов; `import run` продолжит"
        },
        "No run yet.": {"ru": "Прогонов ещё не было."},
        "Kind": {"ru": "Вид"},
        "Total": {"ru": "Всего"},
        "Nothing staged yet.": {"ru": "Промежуточная таблица пуста."},
        "exports the failed rows with their reasons.": {"ru": "выгружает строки с ошибками и их причины."},
    }
)

# Field service (web/views/field_service.py and its templates).
MESSAGES.update(
    {
        "The task was already started.": {"ru": "Задача уже начата."},
        "The process is not waiting for this payment (already paid, or not invoiced yet).": {
            "ru": "Процесс не ждёт этой оплаты (счёт уже оплачен или ещё не выставлен)."
        },
        "The work cannot be finished before the invoice is paid.": {
            "ru": "Нельзя завершить работы до оплаты счёта."
        },
        "This task is not assigned to you.": {"ru": "Эта задача назначена не вам."},
        "Only the specialist on the task starts and finishes it.": {
            "ru": "Начать и завершить задачу может только назначенный специалист."
        },
        "Task started.": {"ru": "Задача начата."},
        "Work finished.": {"ru": "Работы завершены."},
        "This request is not waiting for conversion.": {"ru": "Обращение не ожидает конвертации."},
        "Converted: contact and deal created, invoice sent.": {
            "ru": "Готово: контакт и сделка созданы, счёт отправлен."
        },
        "No contact with this number.": {"ru": "Контакта с таким номером нет."},
        "Payment recorded.": {"ru": "Оплата записана."},
        "Saved.": {"ru": "Сохранено."},
        "Required": {"ru": "Обязательно"},
        "Price and VAT must be numbers.": {"ru": "Цена и НДС должны быть числами."},
        "A product needs a code, a name, a price ≥ 0 and VAT between 0 and 100.": {
            "ru": "Нужны код, название, цена ≥ 0 и НДС от 0 до 100."
        },
        "Start task": {"ru": "Начать задачу"},
        "Finish task": {"ru": "Завершить задачу"},
        "Waiting for payment before the work starts.": {"ru": "Работы начнутся после оплаты счёта."},
        "Invoices": {"ru": "Счета"},
        "Invoice": {"ru": "Счёт"},
        "Convert": {"ru": "Конвертировать"},
        "Contact (empty: match by e-mail and phone, or create)": {
            "ru": "Контакт (пусто — найти по e-mail и телефону или создать)"
        },
        "Match or create automatically": {"ru": "Найти или создать автоматически"},
        "Client phone": {"ru": "Телефон клиента"},
        "Products (code:quantity, comma separated)": {"ru": "Товары и услуги (код:количество через запятую)"},
        "Convert and send the invoice": {"ru": "Конвертировать и отправить счёт"},
        "Price list": {"ru": "Прайс-лист"},
        "Code": {"ru": "Код"},
        "Name": {"ru": "Название"},
        "Price": {"ru": "Цена"},
        "VAT": {"ru": "НДС"},
        "Responsible": {"ru": "Ответственный"},
        "responsible": {"ru": "ответственный"},
        "Contacts": {"ru": "Контакты"},
        "Products": {"ru": "Товары и услуги"},
        "Quantity": {"ru": "Количество"},
        "Amount": {"ru": "Сумма"},
        "Total with VAT": {"ru": "Итого с НДС"},
        "Deal": {"ru": "Сделка"},
        "Seller": {"ru": "Поставщик"},
        "Buyer": {"ru": "Покупатель"},
        "Net": {"ru": "Без НДС"},
        "Total": {"ru": "Всего"},
        "Payment reference (optional)": {"ru": "Номер платежа (необязательно)"},
        "Mark paid": {"ru": "Отметить оплату"},
        "Paid": {"ru": "Оплачено"},
        "Field service": {"ru": "Выездные работы"},
        "Request type → specialist": {"ru": "Тип заявки → специалист"},
        "Request type": {"ru": "Тип заявки"},
        "Specialist": {"ru": "Специалист"},
        "Administrator": {"ru": "Администратор"},
        "Unit": {"ru": "Ед."},
        "inactive": {"ru": "не используется"},
        "Save": {"ru": "Сохранить"},
    }
)
