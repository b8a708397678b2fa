"""The catalogue's per-feature blocks: message id (the English text) -> translations.

Each block belongs to one part of the product; web.i18n_catalog merges them into one table and
refuses a message id two blocks translate differently.
"""

from __future__ import annotations

# Public request form (web/views/public_form.py, templates/request_new.html, request_thanks.html)
PUBLIC_FORM: dict[str, dict[str, str]] = {
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


# Admin messages with names and numbers in them (web/views/admin.py), and the SLA page's help
ADMIN: dict[str, dict[str, str]] = {
    "Unknown roles %(unknown)s; choose from %(known)s.": {
        "ru": "Неизвестные роли: %(unknown)s; выберите из %(known)s."
    },
    "Language must be one of %s.": {"ru": "Язык должен быть одним из: %s."},
    "The password must be at least %s characters long.": {"ru": "Пароль должен быть не короче %s символов."},
    "User %s exists already; edit it instead.": {"ru": "Пользователь %s уже есть; измените его карточку."},
    "No user %s.": {"ru": "Нет пользователя %s."},
    "Group name %s must use lower-case letters, digits, '_', '.', '-'.": {
        "ru": "Имя группы %s может содержать только строчные латинские буквы, цифры, «_», «.», «-»."
    },
    "Category %(category)s saved (%(count)s keywords).": {
        "ru": "Категория «%(category)s» сохранена (ключевых слов: %(count)s)."
    },
    "Calendar name %s must use lower-case letters, digits, '_', '.', '-'.": {
        "ru": "Имя календаря %s может содержать только строчные латинские буквы, цифры, «_», «.», «-»."
    },
    "No calendar %s.": {"ru": "Нет календаря %s."},
    "No calendar %s; create it on the calendars page first.": {
        "ru": "Нет календаря %s; сначала создайте его на странице календарей."
    },
    "The time limit %s is not a duration; write working time like 4h, 2d or 1d 4h.": {
        "ru": "Срок %s — не длительность; укажите рабочее время, например 4h, 2d или 1d 4h."
    },
    "SLA for %(category)s / %(priority)s saved: %(within)s of the calendar %(calendar)s.": {
        "ru": "SLA для «%(category)s» / «%(priority)s» сохранён: %(within)s по календарю «%(calendar)s»."
    },
    "No SLA policy %s.": {"ru": "Нет политики SLA %s."},
    "No notification template %(template)s in language %(language)s.": {
        "ru": "Нет шаблона уведомления %(template)s на языке %(language)s."
    },
    "%(event)s (%(language)s): the shipped text applies again.": {
        "ru": "«%(event)s» (%(language)s): снова действует стандартный текст."
    },
    "%(event)s (%(language)s) saved.": {"ru": "«%(event)s» (%(language)s) сохранён."},
    "No active user %s; the token acts as that user.": {
        "ru": "Нет активного пользователя %s; токен действует от его имени."
    },
    "Resolve within is working time of the chosen calendar: 4h, 2d, 1d 4h (a day is one working day "
    "of that calendar). A category or priority of * covers every one without its own policy.": {
        "ru": "Срок решения — рабочее время выбранного календаря: 4h, 2d, 1d 4h (день — один рабочий "
        "день этого календаря). Категория или приоритет «*» покрывает все, у которых нет своей политики."
    },
}


# Notifications out: inbox, channel settings, outbox admin, reply from the card (web/views/notifications.py,
# outbox_admin.py, requests.py)
NOTIFICATIONS: dict[str, dict[str, str]] = {
    "Channel": {"ru": "Канал"},
    "Recipient": {"ru": "Получатель"},
    "Attempts": {"ru": "Попытки"},
    "Next attempt": {"ru": "Следующая попытка"},
    "Reason": {"ru": "Причина"},
    "Send again": {"ru": "Отправить снова"},
    "Nothing needs attention.": {"ru": "Всё доставлено."},
    "On the way": {"ru": "В пути"},
    "Needs attention": {"ru": "Требуют внимания"},
    "Nothing has failed; the messages above are still on their way.": {
        "ru": "Ошибок нет; сообщения выше ещё в пути."
    },
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


# Process admin and migration (web/views/processes.py).
PROCESS_ADMIN: dict[str, dict[str, str]] = {
    "Deploy": {"ru": "Развернуть"},
    "Deploy a process": {"ru": "Развернуть процесс"},
    "Deployed": {"ru": "Развёрнуто"},
    "Files (.bpmn, .dmn and the .form files they use)": {
        "ru": "Файлы (.bpmn, .dmn и используемые ими .form)"
    },
    "Decision table": {"ru": "Таблица решений"},
    "Decision tables": {"ru": "Таблицы решений"},
    "Inputs": {"ru": "Входы"},
    "Matched rule": {"ru": "Сработавшее правило"},
    "Outputs": {"ru": "Результат"},
    "row": {"ru": "строка"},
    "no rule matched": {"ru": "ни одно правило не подошло"},
    "Routing": {"ru": "Маршрутизация"},
    "This decision table decides; it is read-only here.": {
        "ru": "Решает эта таблица решений; здесь она только для просмотра."
    },
    "Download %s": {"ru": "Скачать %s"},
    "edit in Camunda Modeler and deploy it from there (or on the deploy page).": {
        "ru": "измените в Camunda Modeler и разверните оттуда (или на странице развёртывания)."
    },
    "Rules used without a routing table": {"ru": "Правила, действующие без таблицы маршрутизации"},
    "A deployed table decides instead of these rules.": {
        "ru": "Вместо этих правил решает развёрнутая таблица."
    },
    "Dispatcher group": {"ru": "Группа диспетчеров"},
    "Suggested executor": {"ru": "Предлагаемый исполнитель"},
    "Approvers": {"ru": "Согласующие"},
    "The SLA table decides new deadlines; these policies apply only without it.": {
        "ru": "Новые сроки решает таблица SLA; эти политики действуют только без неё."
    },
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
    "Waiting now": {"ru": "Ждут сейчас"},
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
    "Older versions with running instances": {"ru": "Старые версии с выполняющимися экземплярами"},
    "absent until": {"ru": "отсутствует до"},
    "substitute": {"ru": "замещает"},
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


# Legacy import (admin page /admin/import)
LEGACY_IMPORT: dict[str, dict[str, str]] = {
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
    "imported": {"ru": "импортировано"},
    "with errors": {"ru": "с ошибками"},
    "waiting": {"ru": "ожидают"},
    "s": {"ru": "с"},
    "exports the failed rows with their reasons.": {"ru": "выгружает строки с ошибками и их причины."},
}


# Field service (web/views/field_service.py and its templates).
FIELD_SERVICE: dict[str, dict[str, str]] = {
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
    "Product name": {"ru": "Наименование"},
    "Token name": {"ru": "Название токена"},
    "Variable": {"ru": "Переменная"},
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
    "Field request type": {"ru": "Тип заявки"},
    "Specialist": {"ru": "Специалист"},
    "Administrator": {"ru": "Администратор"},
    "Unit": {"ru": "Ед."},
    "inactive": {"ru": "не используется"},
    "Save": {"ru": "Сохранить"},
}


# Authorization (issue 18): the permission matrix page and token scopes.
AUTHORIZATION: dict[str, dict[str, str]] = {
    "Permissions": {"ru": "Права"},
    "Who may do what, at every door: the web pages, /engine-rest, /api and the command line ask "
    "the same matrix.": {
        "ru": "Кто что может — одинаково для веб-страниц, /engine-rest, /api и командной строки."
    },
    "Resource": {"ru": "Ресурс"},
    "Permission": {"ru": "Право"},
    "Only for": {"ru": "Только для"},
    "Granted to": {"ru": "Кому выдано"},
    "Messages that stand for a person's act": {"ru": "Сообщения, означающие действие человека"},
    "Token scopes": {"ru": "Области действия токенов"},
    "Scopes": {"ru": "Области действия"},
    "none (refused everywhere)": {"ru": "нет (отказ везде)"},
    "Worker topics (engine:worker limited to these)": {
        "ru": "Топики исполнителя (engine:worker только для них)"
    },
}


# CSV headers (web/views/reports.py processing.csv, `flask import failed --csv`).
CSV_HEADERS: dict[str, dict[str, str]] = {
    "Taken": {"ru": "Взята в работу"},
    "Done": {"ru": "Выполнена"},
    "Processing, min": {"ru": "Обработка, мин"},
    "Processing bucket": {"ru": "Интервал обработки"},
    "Pickup, min": {"ru": "Реакция, мин"},
    "Pickup late": {"ru": "Реакция с опозданием"},
    "SLA met": {"ru": "SLA соблюдён"},
    "External id": {"ru": "Внешний номер"},
    "Message": {"ru": "Сообщение"},
    "Raw row": {"ru": "Исходная строка"},
}


# Absences (/absences) and calendars (/calendar).
ABSENCES: dict[str, dict[str, str]] = {
    "Absences": {"ru": "Отсутствия"},
    "Absent now, with open tasks": {"ru": "Отсутствуют сейчас, с открытыми задачами"},
    "until": {"ru": "до"},
    "Hand all to": {"ru": "Передать все задачи:"},
    "No substitute named: hand the tasks over one by one.": {
        "ru": "Замещающий не указан: передайте задачи по одной."
    },
    "Staff member": {"ru": "Сотрудник"},
    "Back at work": {"ru": "Выходит на работу"},
    "Working days": {"ru": "Рабочих дней"},
    "Substitute": {"ru": "Замещающий"},
    "Note": {"ru": "Комментарий"},
    "Nobody is away.": {"ru": "Все на месте."},
    "New absence": {"ru": "Новое отсутствие"},
    "Absence recorded.": {"ru": "Отсутствие записано."},
    "Absence deleted.": {"ru": "Отсутствие удалено."},
    "Tasks handed to the substitute:": {"ru": "Задачи переданы замещающему:"},
    "Previous week": {"ru": "Предыдущая неделя"},
    "Next week": {"ru": "Следующая неделя"},
    "Calendar of": {"ru": "Календарь сотрудника"},
    "Show": {"ru": "Показать"},
    "Subscribe in your calendar application (keep this address secret):": {
        "ru": "Подпишитесь в своём календаре (адрес держите в секрете):"
    },
    "New address (the old one stops working)": {"ru": "Новый адрес (старый перестанет работать)"},
}


# Messages with values in them (web/views/processes.py, requests.py, notifications.py, api_mail.py,
# desk/sla.py and desk/outbox.py errors): translated first, then filled in.
WITH_VALUES: dict[str, dict[str, str]] = {
    "Variable %s saved.": {"ru": "Переменная %s сохранена."},
    "Instance %s cancelled.": {"ru": "Экземпляр %s отменён."},
    "Incident %s retried.": {"ru": "Инцидент %s запущен повторно."},
    "%s: only .bpmn diagrams, .dmn decisions and .form files can be deployed here.": {
        "ru": "%s: здесь можно развернуть только диаграммы .bpmn, решения .dmn и формы .form."
    },
    "Choose at least one .bpmn or .dmn file (with the .form files it uses).": {
        "ru": "Выберите хотя бы один файл .bpmn или .dmn (вместе с формами .form, которые он использует)."
    },
    "Started %(process)s v%(version)s: %(status)s.": {
        "ru": "Запущен процесс «%(process)s» v%(version)s: %(status)s."
    },
    "page must be a whole number.": {"ru": "Номер страницы должен быть целым числом."},
    "No request %s; search the request list.": {"ru": "Нет обращения %s; найдите его в списке обращений."},
    "The reply form has no valid reply_token; reload the request card and write again.": {
        "ru": "У формы ответа нет действительного reply_token; обновите карточку обращения и напишите снова."
    },
    "The reply must have between 1 and %d characters of text.": {
        "ru": "В ответе должно быть от 1 до %d символов текста."
    },
    "%s has no requester e-mail address to reply to.": {
        "ru": "У обращения %s нет адреса заявителя: ответить некуда."
    },
    "No attachment %(attachment)s on request %(request)s.": {
        "ru": "У обращения %(request)s нет вложения %(attachment)s."
    },
    "id must be a notification number, not %s.": {"ru": "id должен быть номером уведомления, а не %s."},
    "Unknown event %(event)s in the form; known: %(known)s.": {
        "ru": "Неизвестное событие %(event)s в форме; известны: %(known)s."
    },
    "Unknown notification channel %(channel)r; use one of %(known)s.": {
        "ru": "Неизвестный канал уведомлений %(channel)r; используйте один из: %(known)s."
    },
    "Send a bearer API token (`flask --app web create-token USER --name mail --scope mail:ingest`).": {
        "ru": "Передайте API-токен в заголовке Bearer "
        "(`flask --app web create-token USER --name mail --scope mail:ingest`)."
    },
    "The API token lacks the scope mail:ingest; issue one with it on the admin tokens page.": {
        "ru": "У API-токена нет области mail:ingest; выпустите токен с ней на странице токенов."
    },
    "The message is over the %d-byte limit (MAIL_MAX_MESSAGE_BYTES).": {
        "ru": "Письмо больше предела в %d байт (MAIL_MAX_MESSAGE_BYTES)."
    },
    "The request body is empty; send the raw RFC 822 message as the body.": {
        "ru": "Тело запроса пустое; передайте в нём письмо целиком (RFC 822)."
    },
    "SLA policy for category %(category)r, priority %(priority)r: %(problem)s Fix the policy "
    "on the admin page.": {
        "ru": "Политика SLA для категории %(category)r, приоритет %(priority)r: %(problem)s Исправьте "
        "политику на странице администратора."
    },
    "No SLA policy covers category %(category)r with priority %(priority)r (policies exist "
    "for: %(pairs)s). Add a policy for that priority, or a '*' default.": {
        "ru": "Ни одна политика SLA не покрывает категорию %(category)r с приоритетом %(priority)r "
        "(политики есть для: %(pairs)s). Добавьте политику для этого приоритета или общую «*»."
    },
    "%(boundaries)d bucket boundaries need %(needed)d labels, got %(given)d; "
    "give one label per bucket or leave labels out.": {
        "ru": "Для %(boundaries)d границ интервалов нужно %(needed)d подписей, а дано %(given)d; "
        "дайте по подписи на интервал или не задавайте их."
    },
    "Unknown time zone %(name)r; choose one from the list, written like Europe/Moscow "
    "or Asia/Yekaterinburg.": {
        "ru": "Неизвестный часовой пояс %(name)r; выберите его из списка, например Europe/Moscow "
        "или Asia/Yekaterinburg."
    },
    "Time zone saved: %s.": {"ru": "Часовой пояс сохранён: %s."},
    "the desk's zone": {"ru": "пояс службы поддержки"},
    "The desk's zone": {"ru": "Пояс службы поддержки"},
    "My time zone": {"ru": "Мой часовой пояс"},
    "Show my times in": {"ru": "Показывать время в поясе"},
    "Every page and CSV shows times in this zone, and the header names it. Report days stay the "
    "desk's days.": {
        "ru": "Все страницы и CSV показывают время в этом поясе, а шапка называет его. Дни в отчётах "
        "остаются днями службы поддержки."
    },
    "Yekaterinburg": {"ru": "Екатеринбург"},
    "Kaliningrad": {"ru": "Калининград"},
    "Samara": {"ru": "Самара"},
    "Omsk": {"ru": "Омск"},
    "Novosibirsk": {"ru": "Новосибирск"},
    "Krasnoyarsk": {"ru": "Красноярск"},
    "Irkutsk": {"ru": "Иркутск"},
    "Yakutsk": {"ru": "Якутск"},
    "Vladivostok": {"ru": "Владивосток"},
    "Magadan": {"ru": "Магадан"},
    "Kamchatka": {"ru": "Камчатка"},
    "Bucket boundaries are empty; give at least one, e.g. (30, 60, 180).": {
        "ru": "Границы интервалов не заданы; укажите хотя бы одну, например (30, 60, 180)."
    },
    "Bucket boundary %(value)r is not a number of minutes >= 0; fix it.": {
        "ru": "Граница интервала %(value)r — не число минут >= 0; исправьте её."
    },
    "Bucket boundaries %(boundaries)s must increase strictly; sort them and drop repeats.": {
        "ru": "Границы интервалов %(boundaries)s должны строго возрастать; отсортируйте их и уберите повторы."
    },
}
