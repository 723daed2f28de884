# The seed's snippet after "Message Queue Producer", lines 379-414, unchanged.
import pika
import json

class MessageProducer:
    def __init__(self, host='localhost', exchange='events'):
        self.connection = pika.BlockingConnection(
            pika.ConnectionParameters(host=host)
        )
        self.channel = self.connection.channel()
        self.exchange = exchange
        
        # Declare exchange
        self.channel.exchange_declare(
            exchange=exchange,
            exchange_type='topic',
            durable=True
        )
    
    def publish(self, routing_key, message, persistent=True):
        """Publish message to exchange."""
        properties = pika.BasicProperties(
            delivery_mode=2 if persistent else 1,  # Persistent
            content_type='application/json',
            message_id=message.get('id'),
            timestamp=message.get('timestamp', int(time.time() * 1000))
        )
        
        self.channel.basic_publish(
            exchange=self.exchange,
            routing_key=routing_key,
            body=json.dumps(message),
            properties=properties
        )
    
    def close(self):
        self.connection.close()
